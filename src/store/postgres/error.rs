//! What PostgreSQL's failures mean to the engine: a database that cannot be reached or did not answer
//! in time is [`StoreError::Unavailable`] (asking again later may work); anything else is
//! [`StoreError::Backend`], its cause kept.

use deadpool_postgres::PoolError;

use crate::store::StoreError;

/// SQLSTATEs that say the server is gone, going, too busy or too slow, rather than that the request
/// was wrong: `57P01`–`57P03` (shutting down, crashed, not yet accepting), `57014` (cancelled: the
/// statement timeout), `55P03` (the lock timeout), `53300` (too many connections). Classes `08`
/// (connection exceptions) and `40` (a transaction rolled back for a deadlock or a serialization
/// failure: it may succeed when tried again) are matched whole.
const UNAVAILABLE_STATES: [&str; 6] = ["57P01", "57P02", "57P03", "57014", "55P03", "53300"];

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if is_unavailable(&e) {
            StoreError::Unavailable(Box::new(e))
        } else {
            StoreError::Backend(Box::new(e))
        }
    }
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => e.into(),
            e @ (PoolError::Timeout(_) | PoolError::Closed) => StoreError::Unavailable(Box::new(e)),
            other => StoreError::Backend(Box::new(other)),
        }
    }
}

fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(state) => {
            ["08", "40"].iter().any(|class| state.code().starts_with(class))
                || UNAVAILABLE_STATES.contains(&state.code())
        }
        // No answer from the server at all: the connection failed or timed out.
        None => {
            std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
                || e.to_string().starts_with("timeout")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_is_not_there_is_unavailable() {
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        let config: tokio_postgres::Config = "host=127.0.0.1 port=1 user=x dbname=x".parse().unwrap();
        let e = config.connect(tokio_postgres::NoTls).await.err().expect("nothing listens on port 1");
        assert!(matches!(StoreError::from(e), StoreError::Unavailable(_)));
    }
}
