//! Validation of the function's definition (runtime, handler, role, VPC, file systems, SnapStart, image config) and its resolution into `Settings`.

use super::definition::{FileSystemConfig, ImageConfig, SnapStart, VpcConfig, RUNTIMES};
use super::model::Spec;
use crate::types::{snap_start_runtime, Field, FileSystem, Image, Settings, Vpc, SNAP_START_MAX_EPHEMERAL};

/// The definition paths `ignoreDifferences` may name.
pub const PATHS: &[&str] =
    &["runtime", "handler", "executionRole", "vpcConfig", "fileSystemConfigs", "snapStart", "imageConfig"];

/// VpcConfig: "SubnetIds … 0-16", "SecurityGroupIds … 0-5" (the API model).
pub const MAX_SUBNETS: usize = 16;
pub const MAX_SECURITY_GROUPS: usize = 5;
/// FileSystemConfigs: at most 1 (the model); LocalMountPath at most 160 characters.
pub const MAX_FILE_SYSTEMS: usize = 1;
pub const MAX_MOUNT_PATH: usize = 160;
/// ImageConfig: EntryPoint and Command at most 1,500 items (the model), each at most 1,024
/// characters (the controller's bound: the model sets none); WorkingDirectory at most 1,000.
pub const MAX_IMAGE_ITEMS: usize = 1500;
pub const MAX_IMAGE_ITEM: usize = 1024;
pub const MAX_WORKING_DIRECTORY: usize = 1000;

/// Handler: the model's 0-128 characters, pattern `[^\s]+` (so at least one).
pub const MAX_HANDLER: usize = 128;
/// An IAM role ARN is at most 2048 characters (IAM quotas: "ARN ... 2048"); the model allows 10000.
pub const MAX_ROLE_ARN: usize = 2048;

/// The model's RoleArn pattern `arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`.
pub fn is_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:") else { return false };
    let Some((partition, rest)) = rest.split_once(':') else { return false };
    let partition_ok = partition.is_empty()
        || partition.strip_prefix("aws").is_some_and(|p| p.chars().all(|c| c.is_ascii_alphabetic() || c == '-'));
    let Some(rest) = rest.strip_prefix("iam::") else { return false };
    let Some((account, rest)) = rest.split_once(':') else { return false };
    let Some(name) = rest.strip_prefix("role") else { return false };
    let name = name.strip_prefix('/').unwrap_or(name);
    partition_ok
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_/".contains(c))
}

fn excerpt(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Checks the definition of `s`; `err(field, message)` takes paths under `spec.`.
pub fn check(s: &Spec, err: &mut dyn FnMut(&str, String)) {
    if let Some(r) = s.runtime.as_deref().filter(|r| !RUNTIMES.contains(r)) {
        err(
            "runtime",
            format!("`{}` is not a Lambda runtime (e.g. python3.13, nodejs22.x, java21, provided.al2023)", excerpt(r)),
        );
    }
    if let Some(h) = &s.handler {
        if h.is_empty() || h.chars().count() > MAX_HANDLER || h.chars().any(char::is_whitespace) {
            err("handler", format!("`{}` is not a handler (1-{MAX_HANDLER} characters, no whitespace)", excerpt(h)));
        }
    }
    if let Some(r) = &s.execution_role {
        if r.len() > MAX_ROLE_ARN || !is_role_arn(r) {
            err("executionRole", format!("`{}` is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", excerpt(r)));
        }
    }
    if let Field::Value(v) = &s.vpc_config {
        vpc(v, err);
    }
    if let Field::Value(f) = &s.file_system_configs {
        file_systems(f, err);
    }
    if let Field::Value(c) = &s.image_config {
        image(c, err);
    }
    snap_start(s, err);
    package_and_network(s, err);
}

/// Whether the manifest's code makes this an image function: `None` without `spec.code` (the
/// live PackageType decides, see `plan::settings::is_image`). `spec.code.s3` is a zip.
pub fn manifest_image(s: &Spec) -> Option<bool> {
    s.code.as_ref().map(|c| c.image_uri.is_some())
}

fn is_id(id: &str, prefix: &str, upper: bool) -> bool {
    id.len() <= 1024
        && id.strip_prefix(prefix).is_some_and(|r| {
            !r.is_empty()
                && r.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase() || (upper && c.is_ascii_uppercase()))
        })
}

fn vpc(v: &VpcConfig, err: &mut dyn FnMut(&str, String)) {
    if v.subnet_ids.len() > MAX_SUBNETS {
        err("vpcConfig.subnetIds", format!("{} subnets, over Lambda's {MAX_SUBNETS}", v.subnet_ids.len()));
    }
    if v.security_group_ids.len() > MAX_SECURITY_GROUPS {
        let n = v.security_group_ids.len();
        err("vpcConfig.securityGroupIds", format!("{n} security groups, over Lambda's {MAX_SECURITY_GROUPS}"));
    }
    if v.subnet_ids.is_empty() != v.security_group_ids.is_empty() {
        // AWS: "SubnetIds and SecurityIds must coexist or be both empty list."
        err("vpcConfig", "subnetIds and securityGroupIds go together (both, or neither to disconnect)".into());
    }
    for (i, id) in v.subnet_ids.iter().enumerate().filter(|(_, id)| !is_id(id, "subnet-", false)) {
        err(&format!("vpcConfig.subnetIds[{i}]"), format!("`{}` is not a subnet id (subnet-…)", excerpt(id)));
    }
    for (i, id) in v.security_group_ids.iter().enumerate().filter(|(_, id)| !is_id(id, "sg-", true)) {
        err(
            &format!("vpcConfig.securityGroupIds[{i}]"),
            format!("`{}` is not a security group id (sg-…)", excerpt(id)),
        );
    }
}

/// The model's FileSystemArn pattern for EFS: `arn:aws[a-zA-Z-]*:elasticfilesystem:REGION:
/// ACCOUNT:access-point/fsap-[a-f0-9]{17}`.
fn is_access_point(arn: &str) -> bool {
    let p: Vec<&str> = arn.splitn(6, ':').collect();
    let partition =
        |s: &str| s.strip_prefix("aws").is_some_and(|r| r.chars().all(|c| c.is_ascii_alphabetic() || c == '-'));
    let id = p.get(5).and_then(|r| r.strip_prefix("access-point/fsap-"));
    p.len() == 6
        && p[0] == "arn"
        && partition(p[1])
        && p[2] == "elasticfilesystem"
        && crate::types::is_region(p[3])
        && crate::types::is_account(p[4])
        && id.is_some_and(|id| id.len() == 17 && id.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)))
}

fn file_systems(fs: &[FileSystemConfig], err: &mut dyn FnMut(&str, String)) {
    if fs.len() > MAX_FILE_SYSTEMS {
        err("fileSystemConfigs", format!("{} file systems, over Lambda's {MAX_FILE_SYSTEMS}", fs.len()));
    }
    for (i, f) in fs.iter().enumerate() {
        if !is_access_point(&f.arn) {
            err(
                &format!("fileSystemConfigs[{i}].arn"),
                format!("`{}` is not an EFS access point ARN (arn:aws:elasticfilesystem:REGION:ACCOUNT:access-point/fsap-…)", excerpt(&f.arn)),
            );
        }
        let name = f.local_mount_path.strip_prefix("/mnt/").unwrap_or_default();
        let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok || f.local_mount_path.len() > MAX_MOUNT_PATH {
            err(
                &format!("fileSystemConfigs[{i}].localMountPath"),
                format!(
                    "`{}` is not /mnt/NAME (letters, digits, `-_.`; at most {MAX_MOUNT_PATH} characters)",
                    excerpt(&f.local_mount_path)
                ),
            );
        }
    }
}

fn image(c: &ImageConfig, err: &mut dyn FnMut(&str, String)) {
    for (field, list) in [("imageConfig.entryPoint", &c.entry_point), ("imageConfig.command", &c.command)] {
        if list.len() > MAX_IMAGE_ITEMS {
            err(field, format!("{} items, over Lambda's {MAX_IMAGE_ITEMS}", list.len()));
        }
        if let Some(i) = list.iter().position(|x| x.chars().count() > MAX_IMAGE_ITEM) {
            err(&format!("{field}[{i}]"), format!("over {MAX_IMAGE_ITEM} characters"));
        }
    }
    if c.working_directory.as_ref().is_some_and(|w| w.chars().count() > MAX_WORKING_DIRECTORY) {
        err("imageConfig.workingDirectory", format!("over Lambda's {MAX_WORKING_DIRECTORY} characters"));
    }
}

/// AWS's SnapStart constraints, on what the manifest says (the plan checks the live function).
fn snap_start(s: &Spec, err: &mut dyn FnMut(&str, String)) {
    if s.snap_start != Field::Value(SnapStart::PublishedVersions) {
        return;
    }
    if let Some(r) = s.runtime.as_deref().filter(|r| !snap_start_runtime(r)) {
        err(
            "snapStart",
            format!("{} is not supported for SnapStart (Java 11+, Python 3.12+, .NET 8+ only)", excerpt(r)),
        );
    }
    if let Some(n) = s.ephemeral_storage.filter(|n| *n > SNAP_START_MAX_EPHEMERAL) {
        err(
            "snapStart",
            format!("SnapStart does not support ephemeral storage greater than 512 MB (ephemeralStorage: {n})"),
        );
    }
    if s.file_system_configs.value().is_some_and(|f| !f.is_empty()) {
        err("snapStart", "SnapStart does not support Amazon EFS (fileSystemConfigs)".into());
    }
    if manifest_image(s) == Some(true) {
        err("snapStart", "SnapStart does not support container images".into());
    }
    for (name, _) in s.aliases.iter().filter(|(_, a)| matches!(a.provisioned_concurrency, Field::Value(_))) {
        err(
            "snapStart",
            format!("SnapStart does not support provisioned concurrency (aliases.{name}.provisionedConcurrency)"),
        );
    }
}

/// The rules that tie the definition to the package type and the VPC.
fn package_and_network(s: &Spec, err: &mut dyn FnMut(&str, String)) {
    let image = manifest_image(s);
    if image == Some(true) {
        // Observed: "Please don't provide Handler or Runtime or Layer when the intended function
        // PackageType is Image."
        for (field, set) in [("runtime", s.runtime.is_some()), ("handler", s.handler.is_some())] {
            if set {
                err(field, "not for an image function (the image holds it)".into());
            }
        }
        if s.layers.value().is_some_and(|l| !l.is_empty()) {
            err("layers", "not for an image function (the image holds them)".into());
        }
    }
    if image == Some(false) && s.image_config.value().is_some() {
        err("imageConfig", "only for image functions (spec.code is a zip)".into());
    }
    let no_vpc = match &s.vpc_config {
        Field::Null => true,
        Field::Value(v) => v.subnet_ids.is_empty(),
        Field::Absent => false,
    };
    if no_vpc && s.file_system_configs.value().is_some_and(|f| !f.is_empty()) {
        err("fileSystemConfigs", "an EFS file system needs a VPC (vpcConfig with its subnets)".into());
    }
}

/// A hint for a serde error about the spec: `role` is not a field (see `executionRole`).
pub fn hint(message: &str) -> Option<String> {
    message.starts_with("unknown field `role`").then(|| {
        "unknown field `role`: the function's execution role is `executionRole` (`roleArn` is the role the controller assumes to manage the function)".to_string()
    })
}

/// Absent: unmanaged; `null`: `none`; a value: `value` of it.
fn managed<T, U>(f: &Field<T>, none: U, value: impl FnOnce(&T) -> U) -> Option<U> {
    match f {
        Field::Absent => None,
        Field::Null => Some(none),
        Field::Value(v) => Some(value(v)),
    }
}

/// Lays the managed definition of `s` over `settings`.
pub fn resolve(s: &Spec, settings: Settings) -> Settings {
    Settings {
        runtime: s.runtime.clone(),
        handler: s.handler.clone(),
        execution_role: s.execution_role.clone(),
        vpc_config: managed(&s.vpc_config, Vpc::default(), |v| {
            Vpc::new(&v.subnet_ids, &v.security_group_ids, v.ipv6_allowed_for_dual_stack)
        }),
        file_system_configs: managed(&s.file_system_configs, vec![], |f| {
            f.iter().map(|f| FileSystem { arn: f.arn.clone(), local_mount_path: f.local_mount_path.clone() }).collect()
        }),
        snap_start: managed(&s.snap_start, "None".to_string(), |a| match a {
            SnapStart::PublishedVersions => "PublishedVersions".to_string(),
            SnapStart::None => "None".to_string(),
        }),
        image_config: managed(&s.image_config, Image::default(), |c| Image {
            entry_point: c.entry_point.clone(),
            command: c.command.clone(),
            working_directory: c.working_directory.clone().unwrap_or_default(),
        }),
        ..settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_follow_the_models_pattern() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/app"));
        assert!(is_role_arn("arn:aws-cn:iam::123456789012:role/service-role/app+x=y,z.@-_"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/app"));
        assert!(!is_role_arn("arn:aws:iam::12345678901:role/app"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:role/"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:role/a b"));
        assert!(!is_role_arn("arn:gcp:iam::123456789012:role/app"));
    }
}
