//! Panel users and API tokens in a provider keyspace. Both are small tables read by key on
//! every request (a session's user, a bearer token's hash) and listed on the settings page.
//! The registry's operators table has the users table's columns, and shares its row mapping.

use chrono::{DateTime, Utc};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use super::error::ResultExt;
use super::query::{self, Conditional, prepare, prepare_conditional};
use crate::domain::{ApiToken, PasswordDigest, SessionGeneration, TokenHash, User, Username};
use crate::store::StoreError;
use crate::store::cassandra::KeyspaceName;

/// `username, display_name, password, active, session_generation`: the columns of a user row,
/// in the registry's operators table too.
pub(super) type UserRow = (String, Option<String>, Option<String>, Option<bool>, Option<i64>);

/// The columns of [`UserRow`], for statements.
pub(super) const USER_COLUMNS: &str = "username, display_name, password, active, session_generation";
type TokenRow = (Vec<u8>, Option<String>, Option<DateTime<Utc>>);

/// The prepared statements of the accounts tables.
pub(super) struct AccountStatements {
    upsert_user: PreparedStatement,
    user: PreparedStatement,
    users: PreparedStatement,
    end_sessions: PreparedStatement,
    add_token: PreparedStatement,
    token: PreparedStatement,
    tokens: PreparedStatement,
    revoke_token: PreparedStatement,
}

impl AccountStatements {
    /// Prepares the statements against a provider keyspace (its tables must exist).
    pub(super) async fn prepare(session: &Session, ks: &KeyspaceName) -> Result<Self, StoreError> {
        Ok(Self {
            upsert_user: prepare(
                session,
                format!("INSERT INTO {ks}.users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?)"),
            )
            .await?,
            user: prepare(session, format!("SELECT {USER_COLUMNS} FROM {ks}.users WHERE username = ?"))
                .await?,
            users: prepare(session, format!("SELECT {USER_COLUMNS} FROM {ks}.users")).await?,
            end_sessions: prepare_conditional(
                session,
                format!("UPDATE {ks}.users SET session_generation = ? WHERE username = ? IF EXISTS"),
            )
            .await?,
            add_token: prepare(
                session,
                format!("INSERT INTO {ks}.api_tokens (hash, name, created_at) VALUES (?, ?, ?)"),
            )
            .await?,
            token: prepare(
                session,
                format!("SELECT hash, name, created_at FROM {ks}.api_tokens WHERE hash = ?"),
            )
            .await?,
            tokens: prepare(session, format!("SELECT hash, name, created_at FROM {ks}.api_tokens")).await?,
            revoke_token: prepare(session, format!("DELETE FROM {ks}.api_tokens WHERE hash = ?")).await?,
        })
    }
}

/// A user (or operator) from its row.
pub(super) fn user_from_row(
    (username, display_name, password, active, generation): UserRow,
) -> Result<User, StoreError> {
    Ok(User {
        username: Username::parse(&username).map_err(|e| StoreError::Corrupt(e.into()))?,
        display_name: display_name.unwrap_or_default(),
        password: PasswordDigest::from_stored(password.unwrap_or_default()),
        active: active.unwrap_or(false),
        session_generation: SessionGeneration::from_stored(generation.unwrap_or(0)),
    })
}

/// The values of a user's (or operator's) row, in [`USER_COLUMNS`] order.
pub(super) fn user_values(user: &User) -> (&str, &str, &str, bool, i64) {
    (
        user.username.as_str(),
        &user.display_name,
        user.password.as_str(),
        user.active,
        user.session_generation.value(),
    )
}

/// Gives an existing account of `statement`'s table a fresh session generation (`UPDATE ...
/// SET session_generation = ? WHERE username = ? IF EXISTS`, so that no row is made for a name
/// without an account); false when there is none.
pub(super) async fn end_sessions(
    session: &Session,
    statement: &PreparedStatement,
    username: &Username,
) -> Result<bool, StoreError> {
    let values = (SessionGeneration::fresh().value(), username.as_str());
    Ok(Conditional::execute(session, statement, values).await?.applied())
}

fn token_from_row((hash, name, created_at): TokenRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        hash: TokenHash::from_bytes(&hash)
            .ok_or_else(|| StoreError::Corrupt("API token hash is not 32 bytes".into()))?,
        name: name.unwrap_or_default(),
        created_at: created_at.unwrap_or_default(),
    })
}

/// Creates or replaces a user.
pub(super) async fn upsert_user(
    session: &Session,
    st: &AccountStatements,
    user: &User,
) -> Result<(), StoreError> {
    session.execute_unpaged(&st.upsert_user, user_values(user)).await.store()?;
    Ok(())
}

/// Ends a user's sessions.
pub(super) async fn end_user_sessions(
    session: &Session,
    st: &AccountStatements,
    username: &Username,
) -> Result<bool, StoreError> {
    end_sessions(session, &st.end_sessions, username).await
}

/// One user.
pub(super) async fn user(
    session: &Session,
    st: &AccountStatements,
    username: &Username,
) -> Result<Option<User>, StoreError> {
    query::first_row::<UserRow>(session, &st.user, (username.as_str(),)).await?.map(user_from_row).transpose()
}

/// Every user, by name.
pub(super) async fn users(session: &Session, st: &AccountStatements) -> Result<Vec<User>, StoreError> {
    let rows: Vec<UserRow> = query::all_rows(session, &st.users, ()).await?;
    let mut users = rows.into_iter().map(user_from_row).collect::<Result<Vec<_>, _>>()?;
    users.sort_by(|a, b| a.username.as_str().cmp(b.username.as_str()));
    Ok(users)
}

/// Stores a token's hash.
pub(super) async fn add_token(
    session: &Session,
    st: &AccountStatements,
    token: &ApiToken,
) -> Result<(), StoreError> {
    let values = (token.hash.as_bytes().as_slice(), &token.name, token.created_at);
    session.execute_unpaged(&st.add_token, values).await.store()?;
    Ok(())
}

/// The token with this hash.
pub(super) async fn token(
    session: &Session,
    st: &AccountStatements,
    hash: &TokenHash,
) -> Result<Option<ApiToken>, StoreError> {
    query::first_row::<TokenRow>(session, &st.token, (hash.as_bytes().as_slice(),))
        .await?
        .map(token_from_row)
        .transpose()
}

/// Every token, oldest first.
pub(super) async fn tokens(session: &Session, st: &AccountStatements) -> Result<Vec<ApiToken>, StoreError> {
    let rows: Vec<TokenRow> = query::all_rows(session, &st.tokens, ()).await?;
    let mut tokens = rows.into_iter().map(token_from_row).collect::<Result<Vec<_>, _>>()?;
    tokens.sort_by_key(|t| t.created_at);
    Ok(tokens)
}

/// Removes a token.
pub(super) async fn revoke_token(
    session: &Session,
    st: &AccountStatements,
    hash: &TokenHash,
) -> Result<(), StoreError> {
    session.execute_unpaged(&st.revoke_token, (hash.as_bytes().as_slice(),)).await.store()?;
    Ok(())
}
