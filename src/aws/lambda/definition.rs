//! The function's settings in the SDK's shapes: read from a configuration, written into an UpdateFunctionConfiguration or a CreateFunction.

use aws_sdk_lambda::types::{
    ApplicationLogLevel, DeadLetterConfig, EphemeralStorage, FileSystemConfig, FunctionConfiguration, ImageConfig,
    LogFormat, LoggingConfig, Runtime, SnapStart, SnapStartApplyOn, SystemLogLevel, TracingConfig, TracingMode,
    VpcConfig,
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

/// Every managed setting in the SDK's shapes: what UpdateFunctionConfiguration and
/// CreateFunction send (the one mapping from [`Settings`] to the API).
#[derive(Clone, Default)]
pub(super) struct Parts {
    pub memory_size: Option<i32>,
    pub timeout: Option<i32>,
    pub ephemeral_storage: Option<EphemeralStorage>,
    pub description: Option<String>,
    pub tracing: Option<TracingConfig>,
    pub layers: Option<Vec<String>>,
    pub dead_letter: Option<DeadLetterConfig>,
    pub kms_key_arn: Option<String>,
    pub logging: Option<LoggingConfig>,
    pub runtime: Option<Runtime>,
    pub handler: Option<String>,
    pub role: Option<String>,
    pub vpc: Option<VpcConfig>,
    pub file_systems: Option<Vec<FileSystemConfig>>,
    pub snap_start: Option<SnapStart>,
    pub image: Option<ImageConfig>,
}

impl Parts {
    /// The set fields of `s` (a VPC is removed by empty lists, a DLQ or KMS key by "").
    pub fn of(s: &Settings) -> Parts {
        let to_i32 = |n: Option<i64>| n.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        Parts {
            memory_size: to_i32(s.memory_size),
            timeout: to_i32(s.timeout),
            ephemeral_storage: to_i32(s.ephemeral_storage)
                .and_then(|n| EphemeralStorage::builder().size(n).build().ok()),
            description: s.description.clone(),
            tracing: s.tracing.as_deref().map(|m| TracingConfig::builder().mode(TracingMode::from(m)).build()),
            layers: s.layers.clone(),
            dead_letter: s.dead_letter_target.as_ref().map(|t| DeadLetterConfig::builder().target_arn(t).build()),
            kms_key_arn: s.kms_key_arn.clone(),
            logging: s.has_logging().then(|| {
                LoggingConfig::builder()
                    .set_log_format(s.log_format.as_deref().map(LogFormat::from))
                    .set_application_log_level(s.application_log_level.as_deref().map(ApplicationLogLevel::from))
                    .set_system_log_level(s.system_log_level.as_deref().map(SystemLogLevel::from))
                    .set_log_group(s.log_group.clone())
                    .build()
            }),
            runtime: s.runtime.as_deref().map(Runtime::from),
            handler: s.handler.clone(),
            role: s.execution_role.clone(),
            vpc: s.vpc_config.as_ref().map(|v| {
                VpcConfig::builder()
                    .set_subnet_ids(Some(v.subnet_ids.clone()))
                    .set_security_group_ids(Some(v.security_group_ids.clone()))
                    .ipv6_allowed_for_dual_stack(v.ipv6_allowed_for_dual_stack)
                    .build()
            }),
            file_systems: s.file_system_configs.as_ref().map(|fs| {
                fs.iter()
                    .filter_map(|f| {
                        FileSystemConfig::builder().arn(&f.arn).local_mount_path(&f.local_mount_path).build().ok()
                    })
                    .collect()
            }),
            snap_start: s
                .snap_start
                .as_deref()
                .map(|a| SnapStart::builder().apply_on(SnapStartApplyOn::from(a)).build()),
            image: s.image_config.as_ref().map(|i| {
                ImageConfig::builder()
                    .set_entry_point(Some(i.entry_point.clone()))
                    .set_command(Some(i.command.clone()))
                    .working_directory(&i.working_directory)
                    .build()
            }),
        }
    }

    /// For CreateFunction: a value that means "none" (an empty description, DLQ, KMS key or
    /// layer list; a VPC of empty lists) is left out, so AWS's default applies.
    pub fn for_creation(mut self) -> Parts {
        self.description = self.description.filter(|d| !d.is_empty());
        self.layers = self.layers.filter(|l| !l.is_empty());
        self.dead_letter = self.dead_letter.filter(|d| d.target_arn().is_some_and(|t| !t.is_empty()));
        self.kms_key_arn = self.kms_key_arn.filter(|k| !k.is_empty());
        self.vpc = self.vpc.filter(|v| !v.subnet_ids().is_empty());
        self.file_systems = self.file_systems.filter(|f| !f.is_empty());
        self
    }
}

/// Sets every field of a [`Parts`] on a builder with the same setters (UpdateFunctionConfiguration
/// and CreateFunction name them alike).
macro_rules! with_parts {
    ($b:expr, $p:expr) => {{
        let p = $p;
        $b.set_memory_size(p.memory_size)
            .set_timeout(p.timeout)
            .set_ephemeral_storage(p.ephemeral_storage)
            .set_description(p.description)
            .set_tracing_config(p.tracing)
            .set_layers(p.layers)
            .set_dead_letter_config(p.dead_letter)
            .set_kms_key_arn(p.kms_key_arn)
            .set_logging_config(p.logging)
            .set_runtime(p.runtime)
            .set_handler(p.handler)
            .set_role(p.role)
            .set_vpc_config(p.vpc)
            .set_file_system_configs(p.file_systems)
            .set_snap_start(p.snap_start)
            .set_image_config(p.image)
    }};
}
pub(super) use with_parts;

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
