//! Driver errors as store errors: a cluster that cannot be reached or did not answer in time is
//! [`StoreError::Unavailable`] (retry later; ingest spools), anything else is
//! [`StoreError::Backend`], and rows that do not decode are [`StoreError::Corrupt`].

use scylla::errors::{
    DbError, ExecutionError, IntoRowsResultError, MetadataError, NewSessionError, NextPageError,
    NextRowError, PagerExecutionError, PrepareError, RequestAttemptError, RequestError, RowsError,
    SchemaAgreementError,
};

use crate::store::{Failure, StoreError};

/// Maps a driver error to a store error, keeping the driver's message.
pub(super) trait IntoStoreError {
    /// The store error for this driver error.
    fn into_store_error(self) -> StoreError;
}

fn classify(unavailable: bool, error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    let failure = Failure::caused_by("cassandra", error);
    if unavailable { StoreError::Unavailable(failure) } else { StoreError::Backend(failure) }
}

/// Errors a replica or coordinator reports when it is down, overloaded or too slow.
fn db_unavailable(error: &DbError) -> bool {
    matches!(
        error,
        DbError::Unavailable { .. }
            | DbError::Overloaded
            | DbError::IsBootstrapping
            | DbError::ReadTimeout { .. }
            | DbError::WriteTimeout { .. }
            | DbError::RateLimitReached { .. }
    )
}

fn attempt_unavailable(error: &RequestAttemptError) -> bool {
    match error {
        RequestAttemptError::BrokenConnectionError(_) | RequestAttemptError::UnableToAllocStreamId => true,
        RequestAttemptError::DbError(db, _) => db_unavailable(db),
        _ => false,
    }
}

fn metadata_unavailable(error: &MetadataError) -> bool {
    matches!(error, MetadataError::ConnectionPoolError(_) | MetadataError::FetchError(_))
}

fn schema_agreement_unavailable(error: &SchemaAgreementError) -> bool {
    match error {
        SchemaAgreementError::ConnectionPoolError(_) | SchemaAgreementError::Timeout(_) => true,
        SchemaAgreementError::RequestError(attempt) => attempt_unavailable(attempt),
        SchemaAgreementError::PrepareError(prepare) => prepare_unavailable(prepare),
        _ => false,
    }
}

fn prepare_unavailable(error: &PrepareError) -> bool {
    match error {
        PrepareError::ConnectionPoolError(_) => true,
        PrepareError::AllAttemptsFailed { first_attempt } => attempt_unavailable(first_attempt),
        _ => false,
    }
}

fn execution_unavailable(error: &ExecutionError) -> bool {
    match error {
        ExecutionError::EmptyPlan | ExecutionError::RequestTimeout(_) => true,
        // A broken or still initializing pool: no connection to use.
        ExecutionError::ConnectionPoolError(_) => true,
        ExecutionError::LastAttemptError(attempt) => attempt_unavailable(attempt),
        ExecutionError::PrepareError(prepare) => prepare_unavailable(prepare),
        ExecutionError::SchemaAgreementError(agreement) => schema_agreement_unavailable(agreement),
        ExecutionError::MetadataError(metadata) => metadata_unavailable(metadata),
        _ => false,
    }
}

fn request_unavailable(error: &RequestError) -> bool {
    match error {
        RequestError::EmptyPlan | RequestError::RequestTimeout(_) => true,
        RequestError::ConnectionPoolError(_) => true,
        RequestError::LastAttemptError(attempt) => attempt_unavailable(attempt),
        _ => false,
    }
}

impl IntoStoreError for ExecutionError {
    fn into_store_error(self) -> StoreError {
        classify(execution_unavailable(&self), self)
    }
}

impl IntoStoreError for PrepareError {
    fn into_store_error(self) -> StoreError {
        classify(prepare_unavailable(&self), self)
    }
}

impl IntoStoreError for NewSessionError {
    fn into_store_error(self) -> StoreError {
        let unavailable = match &self {
            NewSessionError::FailedToResolveAnyHostname(_) => true,
            NewSessionError::MetadataError(metadata) => metadata_unavailable(metadata),
            _ => false,
        };
        classify(unavailable, self)
    }
}

impl IntoStoreError for PagerExecutionError {
    fn into_store_error(self) -> StoreError {
        let unavailable = match &self {
            PagerExecutionError::PrepareError(prepare) => prepare_unavailable(prepare),
            PagerExecutionError::NextPageError(NextPageError::RequestFailure(request)) => {
                request_unavailable(request)
            }
            _ => false,
        };
        classify(unavailable, self)
    }
}

impl IntoStoreError for NextRowError {
    fn into_store_error(self) -> StoreError {
        match self {
            NextRowError::NextPageError(NextPageError::RequestFailure(request)) => {
                let unavailable = request_unavailable(&request);
                classify(unavailable, request)
            }
            NextRowError::RowDeserializationError(e) => {
                StoreError::Corrupt(Failure::caused_by("cassandra row", e))
            }
            other => classify(false, other),
        }
    }
}

impl IntoStoreError for IntoRowsResultError {
    fn into_store_error(self) -> StoreError {
        StoreError::Backend(Failure::caused_by("cassandra answered without rows", self))
    }
}

impl IntoStoreError for RowsError {
    fn into_store_error(self) -> StoreError {
        StoreError::Corrupt(Failure::caused_by("cassandra rows do not have the expected columns", self))
    }
}

impl IntoStoreError for scylla::errors::DeserializationError {
    fn into_store_error(self) -> StoreError {
        StoreError::Corrupt(Failure::caused_by("cassandra row", self))
    }
}

impl IntoStoreError for scylla::errors::SerializationError {
    fn into_store_error(self) -> StoreError {
        StoreError::Backend(Failure::caused_by("cassandra values", self))
    }
}

/// Shorthand for `map_err(IntoStoreError::into_store_error)`.
pub(super) trait ResultExt<T> {
    /// Maps the error with [`IntoStoreError`].
    fn store(self) -> Result<T, StoreError>;
}

impl<T, E: IntoStoreError> ResultExt<T> for Result<T, E> {
    fn store(self) -> Result<T, StoreError> {
        self.map_err(IntoStoreError::into_store_error)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use scylla::errors::WriteType;
    use scylla::statement::Consistency;

    use super::*;

    fn db(error: DbError) -> ExecutionError {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(error, "from the test".into()))
    }

    #[test]
    fn timeouts_and_missing_replicas_are_unavailable_so_callers_retry_later() {
        let write_timeout = DbError::WriteTimeout {
            consistency: Consistency::LocalQuorum,
            received: 1,
            required: 2,
            write_type: WriteType::UnloggedBatch,
        };
        let replicas_down = DbError::Unavailable { consistency: Consistency::Quorum, required: 2, alive: 1 };
        for error in [
            ExecutionError::RequestTimeout(Duration::from_secs(5)),
            ExecutionError::EmptyPlan,
            db(write_timeout),
            db(replicas_down),
            db(DbError::Overloaded),
        ] {
            assert!(error.into_store_error().is_unavailable());
        }
    }

    #[test]
    fn the_driver_error_stays_reachable_as_the_source() {
        let error = db(DbError::Overloaded).into_store_error();
        let failure = std::error::Error::source(&error).expect("the failure");
        let driver = failure.source().expect("the driver's error");
        assert!(driver.downcast_ref::<ExecutionError>().is_some(), "{driver:?}");
        assert!(error.to_string().contains("cassandra"), "{error}");
    }

    #[test]
    fn refused_statements_are_backend_errors() {
        let function =
            DbError::FunctionFailure { keyspace: "ks".into(), function: "f".into(), arg_types: Vec::new() };
        for error in [db(DbError::SyntaxError), db(DbError::Invalid), db(DbError::Unauthorized), db(function)]
        {
            assert!(matches!(error.into_store_error(), StoreError::Backend(_)));
        }
    }
}
