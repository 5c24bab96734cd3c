//! The function's definition in the SDK's shapes: read from a configuration, written into an UpdateFunctionConfiguration.

use aws_sdk_lambda::operation::update_function_configuration::builders::UpdateFunctionConfigurationFluentBuilder;
use aws_sdk_lambda::types::{
    FileSystemConfig, FunctionConfiguration, ImageConfig, Runtime, SnapStart, SnapStartApplyOn, VpcConfig,
};

use crate::types::{FileSystem, Image, Settings, Vpc};

/// Lays the definition of `c` over `s` (AWS's "none" for what is unset: no VPC, no file system,
/// SnapStart `None`, no image overrides; "" for an image function's runtime and handler).
pub(super) fn read(c: &FunctionConfiguration, s: Settings) -> Settings {
    let vpc = c.vpc_config().map_or_else(Vpc::default, |v| {
        Vpc::new(v.subnet_ids(), v.security_group_ids(), v.ipv6_allowed_for_dual_stack().unwrap_or(false))
    });
    let image = c.image_config_response().and_then(|r| r.image_config()).map_or_else(Image::default, |i| Image {
        entry_point: i.entry_point().to_vec(),
        command: i.command().to_vec(),
        working_directory: i.working_directory().unwrap_or_default().to_string(),
    });
    let file_systems = c.file_system_configs().iter();
    Settings {
        runtime: Some(c.runtime().map_or("", |r| r.as_str()).to_string()),
        handler: Some(c.handler().unwrap_or_default().to_string()),
        execution_role: Some(c.role().unwrap_or_default().to_string()),
        vpc_config: Some(vpc),
        file_system_configs: Some(
            file_systems
                .map(|f| FileSystem { arn: f.arn().to_string(), local_mount_path: f.local_mount_path().to_string() })
                .collect(),
        ),
        snap_start: Some(c.snap_start().and_then(|s| s.apply_on()).map_or("None", |a| a.as_str()).to_string()),
        image_config: Some(image),
        ..s
    }
}

/// The definition fields set in `s`, on the update `b` (a VPC is removed by empty lists).
pub(super) fn write(
    b: UpdateFunctionConfigurationFluentBuilder,
    s: &Settings,
) -> UpdateFunctionConfigurationFluentBuilder {
    let vpc = s.vpc_config.as_ref().map(|v| {
        VpcConfig::builder()
            .set_subnet_ids(Some(v.subnet_ids.clone()))
            .set_security_group_ids(Some(v.security_group_ids.clone()))
            .ipv6_allowed_for_dual_stack(v.ipv6_allowed_for_dual_stack)
            .build()
    });
    let file_systems = s.file_system_configs.as_ref().map(|fs| {
        fs.iter()
            .filter_map(|f| FileSystemConfig::builder().arn(&f.arn).local_mount_path(&f.local_mount_path).build().ok())
            .collect()
    });
    let image = s.image_config.as_ref().map(|i| {
        ImageConfig::builder()
            .set_entry_point(Some(i.entry_point.clone()))
            .set_command(Some(i.command.clone()))
            .working_directory(&i.working_directory)
            .build()
    });
    b.set_runtime(s.runtime.as_deref().map(Runtime::from))
        .set_handler(s.handler.clone())
        .set_role(s.execution_role.clone())
        .set_vpc_config(vpc)
        .set_file_system_configs(file_systems)
        .set_snap_start(
            s.snap_start.as_deref().map(|a| SnapStart::builder().apply_on(SnapStartApplyOn::from(a)).build()),
        )
        .set_image_config(image)
}

/// What [`read`] needs of a GetFunctionConfiguration answer, copied into a configuration.
pub(super) fn copy(
    c: &aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
    b: aws_sdk_lambda::types::builders::FunctionConfigurationBuilder,
) -> aws_sdk_lambda::types::builders::FunctionConfigurationBuilder {
    b.set_runtime(c.runtime().cloned())
        .set_handler(c.handler().map(str::to_string))
        .set_role(c.role().map(str::to_string))
        .set_vpc_config(c.vpc_config().cloned())
        .set_file_system_configs(Some(c.file_system_configs().to_vec()))
        .set_snap_start(c.snap_start().cloned())
        .set_image_config_response(c.image_config_response().cloned())
}
