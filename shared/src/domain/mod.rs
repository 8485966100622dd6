//! Domain types. Every identifier that crosses a boundary is parsed into a type that can only hold
//! a valid value, so the storage layer never sees an unchecked string.

mod account;
mod alert;
mod customer;
mod delivery;
mod device;
mod gateway;
mod ids;
mod location;
mod metric;
mod provider;
mod quarantine;
mod reading;
mod secret;
mod token;
mod units;
mod unsubscribe;

pub use account::{
    ApiToken, MIN_PASSWORD_CHARS, PasswordDigest, PasswordMemory, SessionGeneration, User, Username,
};
pub use alert::{Acknowledgement, Alert, AlertBasis, AlertKind, MailPreferences};
pub use customer::{Customer, EmailAddress};
pub use delivery::{
    Claim, ClaimOwner, ClaimRequest, Delivery, DeliveryKey, DeliveryKeyError, DeliveryOutcome, DeliveryState,
};
pub use device::{Device, DeviceKind};
pub use gateway::{Gateway, SiteAlerting};
pub use ids::{CustomerId, DeviceId, GatewayId, IdError, ProviderSlug};
pub use location::{LocationError, SiteLocation};
pub use metric::{MAX_ABS_VALUE, Metric, MetricError, Metrics, parse_value};
pub use provider::{
    OFFLINE_AFTER_MINUTES, Preferences, Provider, Replication, ReplicationError, ReportSchedule,
    UNDERPERFORMANCE_PERCENT,
};
pub use quarantine::{QuarantinedReading, RefusalReason, RefusedGateway};
pub use reading::{DeviceStatus, Reading, ReadingError, TimestampPolicy};
pub use secret::{MIN_SECRET_BYTES, SECRET_ADVICE, SecretError, SigningSecret, optional_secret};
pub use token::{GatewayToken, TokenHash};
pub use units::{Quantity, Unit, UnitError};
pub use unsubscribe::{Unsubscribe, UnsubscribeError, UnsubscribeKey, UnsubscribeScope};
