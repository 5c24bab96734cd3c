//! `plan -o markdown` through the binary against the emulator: the comment CI posts.

use crate::common::*;

#[tokio::test]
async fn plan_as_markdown_flags_a_throttling_change_and_never_shows_a_secret() {
    let emu = Emulator::start();
    emu.seed_function("app-md", 2);
    emu.put_parameter("/app/md-secret", "md-secret-value-123", true).await;
    let text = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-md\nspec:\n  reservedConcurrency: 0\n  environment:\n    variables:\n      TOKEN: {fromSsm: /app/md-secret}\n";
    let dir = manifests(&[("md.yaml", text)]);
    let run = emu.run(&["plan", "-m", path(&dir), "-o", "markdown", "--detailed-exitcode"]).expect(2);
    let md = run.stdout;
    assert!(md.starts_with("<!-- lambda-reconciler plan -->\n"), "{md}");
    assert!(md.contains("| `app-md` | ap-northeast-1 |"), "{md}");
    assert!(md.contains("⛔ sets reserved concurrency to 0"), "{md}");
    assert!(md.contains("environment.variables.TOKEN: (sensitive)"), "{md}");
    assert!(!md.contains("md-secret-value-123"), "{md}");
}
