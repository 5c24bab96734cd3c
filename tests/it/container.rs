//! What the container image relies on, tested without Docker: the binary runs with its
//! manifests in a directory it can only read, as a non-root user, with no HOME and no writable
//! filesystem (a private mount namespace with every mount remounted read-only).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::daemon::Daemon;
use crate::common::*;

const NOBODY: &str = "65534";

/// The binary cargo built for this test run: the same code the image ships (the profile changes
/// optimisation, not what the program touches on disk or in its environment).
fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lambda-reconciler"))
}

/// `unshare` + read-only remounts + `setpriv` to nobody + an empty environment, then `args`.
fn sandboxed(env: &[(&str, String)], args: &[String]) -> Command {
    let mut script = String::from(
        "for m in $(awk '{print $2}' /proc/self/mounts | sort -u); do mount -o remount,bind,ro \"$m\" 2>/dev/null; done; \
         exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all env -i PATH=/usr/bin:/bin",
    );
    for (k, v) in env {
        script += &format!(" {k}='{v}'");
    }
    for a in args {
        script += &format!(" '{a}'");
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &script]);
    cmd
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn the_binary_runs_read_only_as_nobody_without_home() {
    let emu = Emulator::start();
    emu.seed_function("sealed", 1);
    let root = tempfile::tempdir().unwrap();
    chmod(root.path(), 0o755);
    let bin = root.path().join("lambda-reconciler");
    std::fs::copy(binary(), &bin).unwrap();
    chmod(&bin, 0o555);
    let dir = root.path().join("manifests");
    std::fs::create_dir(&dir).unwrap();
    let m = dir.join("sealed.yaml");
    std::fs::write(&m, "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: sealed\nspec:\n  reservedConcurrency: 2\n").unwrap();
    chmod(&m, 0o444);
    chmod(&dir, 0o555);

    // The sandbox is real: nothing is writable, not even /tmp, and the user is nobody.
    let probe = sandboxed(&[], &["sh".into(), "-c".into(), "id -u; echo \"HOME=$HOME\"; touch /tmp/probe".into()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&probe.stdout);
    assert!(said.starts_with(NOBODY) && said.contains("HOME=\n"), "{said}");
    assert!(!probe.status.success() && String::from_utf8_lossy(&probe.stderr).contains("Read-only file system"));

    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDTEST".to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ("NO_PROXY", "127.0.0.1".to_string()),
    ];
    let bin_s = bin.to_str().unwrap().to_string();
    let validate = sandboxed(&env, &[bin_s.clone(), "validate".into(), "-m".into(), dir.to_str().unwrap().into()])
        .output()
        .unwrap();
    assert!(validate.status.success(), "{}", String::from_utf8_lossy(&validate.stderr));

    let mut args = vec![bin_s];
    args.extend(Daemon::args(&emu, dir.to_str().unwrap(), &["--resync-interval", "1h"]));
    let mut daemon = Daemon::spawn(sandboxed(&env, &args));
    daemon.wait_ready().await;
    eventually("reserved concurrency applied", Duration::from_secs(60), || async {
        let f = emu.lambda().await.get_function().function_name("sealed").send().await.unwrap();
        f.concurrency().and_then(|c| c.reserved_concurrent_executions()) == Some(2)
    })
    .await;
    daemon.sigterm();
    assert_eq!(daemon.wait_exit(Duration::from_secs(30)), 0, "{}", daemon.log_text());
    assert!(!daemon.log_text().contains("\"level\":\"ERROR\""), "{}", daemon.log_text());
}
