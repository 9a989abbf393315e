//! Why a handler could not finish. The enum is closed: the dispatcher
//! decides what the user is told by matching on it, never by downcasting.

use crate::store::StoreError;
use crate::telegram::TelegramError;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Telegram(#[from] TelegramError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type HandlerResult = Result<(), HandlerError>;
