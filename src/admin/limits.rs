//! Every limit of the admin listener, in one place (README "Status, metrics, health").

use std::time::Duration;

/// A connection must send a whole request header within this, counted from the connection's
/// start or the end of its previous response (so it is also the keep-alive idle time); else it
/// is closed. `--admin-header-timeout` (hidden, for tests) lowers it.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest and longest `--admin-header-timeout`.
pub const HEADER_READ_TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(60));

/// Open connections at most, or half the process's open-file limit when that is lower (the other
/// half is for AWS connections and manifest files), but never under [`MIN_CONNECTIONS`]. At the
/// limit a new connection closes the oldest idle one (no request in flight), so a probe still
/// gets through a flood of idle or half-sent connections; when every one has a request in
/// flight, the new connection is closed at once.
pub const MAX_CONNECTIONS: usize = 256;

/// The connection limit under a very low open-file limit.
pub const MIN_CONNECTIONS: usize = 8;

/// How long a new connection waits, at the limit, for the oldest idle one to close.
pub const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// The largest request head (request line and headers) read, in bytes (hyper's read buffer).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The largest request body, in bytes: only the rollout commands take one (`{}`).
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// A request body must arrive within this.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /status` entries per page when `?limit=` is not given.
pub const STATUS_PAGE_DEFAULT: usize = 100;

/// `GET /status` entries per page at most (a larger `?limit=` is lowered to this).
pub const STATUS_PAGE_MAX: usize = 500;

/// On shutdown, connections get this long to finish their request before they are closed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// After a failed accept (out of file descriptors), the listener waits this long before the next.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
