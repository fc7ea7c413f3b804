//! The durable-fire path, as the engine sees it: a fire's new state, with the events and run it causes,
//! is submitted and acknowledged once it reaches a [`Level`]. The sled backend's group commit (a
//! journal with one sync for every concurrent fire) implements it.

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::{StoreError, StoreResult};
use crate::domain::instance::InstanceState;
use crate::domain::run::Run;
use crate::domain::InstanceId;
use crate::events::EngineEvent;

/// What a waiter needs of everything queued before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Visible to readers.
    #[default]
    Applied,
    /// Survives a crash; with sled's sync interval, a crash of the process only, and of the machine once
    /// the interval has passed.
    Durable,
    /// Durable, and the backend's other writes (admin changes) made before it too.
    Flushed,
}

/// One instance's new state and what commits with it.
pub struct Write {
    pub id: InstanceId,
    pub state: InstanceState,
    pub events: Vec<EngineEvent>,
    pub run: Option<Run>,
}

/// The answer a waiter gets once its level is reached.
pub struct Answer {
    done: oneshot::Receiver<Result<(), String>>,
    /// What a refusal (why the level was not reached) means to the caller.
    refused: fn(String) -> StoreError,
    /// When the caller stops waiting and is answered unavailable (the write stays queued).
    deadline: Option<tokio::time::Instant>,
}

impl Answer {
    /// The answer `done`'s sender will give: `Err` with why the level was not reached.
    pub(crate) fn new(done: oneshot::Receiver<Result<(), String>>) -> Self {
        Self { done, refused: StoreError::Task, deadline: None }
    }

    /// An answer whose refusals mean the backend cannot take the write now (asking again may work).
    pub(crate) fn unavailable_on_refusal(done: oneshot::Receiver<Result<(), String>>) -> Self {
        Self { done, refused: |why| StoreError::Unavailable(why.into()), deadline: None }
    }

    /// The same answer, given as unavailable once `within` has passed from now without one: the
    /// caller waits no longer, and the write stays queued (as a refused one does).
    pub(crate) fn within(self, within: std::time::Duration) -> Self {
        Self { deadline: Some(tokio::time::Instant::now() + within), ..self }
    }

    pub async fn wait(self) -> StoreResult<()> {
        let answer = match self.deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, self.done).await {
                Ok(answer) => answer,
                Err(_) => return Err(StoreError::Unavailable("the write was not committed in time".into())),
            },
            None => self.done.await,
        };
        answer.map_err(|_| stopped())?.map_err(self.refused)
    }
}

pub(crate) fn stopped() -> StoreError {
    StoreError::Task("the committer has stopped".into())
}

#[async_trait]
pub trait FireLog: Send + Sync {
    /// Queues a state write with the events it causes (for the durable sink) and the run of a fire's
    /// actions; the newest version of an instance's state wins, and every event and run is kept. With
    /// `wait`, the answer comes once this write and everything queued before it reach that level.
    fn write(&self, write: Write, wait: Option<Level>) -> Option<Answer>;

    /// Returns once everything queued before is durable, admin writes made before the call included.
    async fn flushed(&self) -> StoreResult<()>;
}
