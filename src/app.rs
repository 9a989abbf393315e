//! Wiring: storage, the Telegram client, the command menus, long polling,
//! and a clean shutdown on SIGINT/SIGTERM.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use teloxide::payloads::{
    DeleteWebhook, GetMe, GetWebhookInfo, SetMyCommands, SetMyCommandsSetters, SetWebhook,
    SetWebhookSetters,
};
use teloxide::types::{BotCommand, BotCommandScope};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::business::BusinessConnections;
use crate::config::{Config, Webhook};
use crate::context::AppState;
use crate::dispatch::ALLOWED_UPDATES;
use crate::http::{HttpState, Limits, WebhookRoute};
use crate::i18n::Lang;
use crate::intake::{Intake, Mode};
use crate::metrics::Metrics;
use crate::modules::lifecycle;
use crate::modules::registry::{self, CommandSpec};
use crate::pace::UserPace;
use crate::store::{self, AdminChange, AdminChanges, Backend, Store, StoreError};
use crate::t;
use crate::telegram::{MigrationHook, Refusal, RetryPolicy, Telegram, TelegramError, backoff};
use crate::updates;

/// How long one getUpdates call waits for updates.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);
/// Kept of the stop's grace for what comes after the handlers and the
/// outbox: confirming the offset, closing the database.
const STOP_RESERVE: Duration = Duration::from_millis(1500);
/// How often handled-update records older than a day are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("could not open the database: {0}")]
    Store(#[from] StoreError),
    #[error(
        "DATABASE_URL was refused by PostgreSQL ({0}): check the user, password and database name"
    )]
    DatabaseRefused(StoreError),
    /// The database driver refused the connection options at open (the
    /// URL itself was checked when the configuration was read).
    #[error("DATABASE_URL cannot be used ({0})")]
    DatabaseUrl(StoreError),
    #[error("BOT_TOKEN was refused by Telegram ({0}): get a valid token from @BotFather")]
    TokenRejected(TelegramError),
    /// Polling was asked for, but Telegram posts the bot's updates to a
    /// webhook: another deployment (or replica) serves them.
    #[error(
        "Telegram has a webhook set for this bot (to {host}) but WEBHOOK_URL is unset: set WEBHOOK_URL (with WEBHOOK_SECRET and HTTP_ADDR) to serve it, or TAKE_OVER_WEBHOOK=1 to delete it and poll instead"
    )]
    WebhookSet {
        /// The webhook's host only: its path may hold a secret.
        host: String,
    },
    /// Telegram refused the webhook for good (a 4xx other than 429).
    #[error(
        "WEBHOOK_URL was refused by Telegram ({0}): it must be a public https URL on port 443, 80, 88 or 8443 (http only for a local Bot API server)"
    )]
    WebhookRefused(TelegramError),
    #[error("the metrics could not be set up: {0}")]
    Metrics(prometheus::Error),
    #[error("HTTP_ADDR {0} cannot be listened on: {1}")]
    Http(std::net::SocketAddr, std::io::Error),
}

impl AppError {
    /// A configuration the operator must fix: retrying will not help. The
    /// binary exits with code 2 on these, as on a configuration error found
    /// before start-up.
    pub fn is_configuration(&self) -> bool {
        match self {
            AppError::DatabaseRefused(_)
            | AppError::DatabaseUrl(_)
            | AppError::TokenRejected(_)
            | AppError::WebhookSet { .. }
            | AppError::WebhookRefused(_) => true,
            // An address of another machine, or a port this user may not
            // bind; one in use may be freed by a restart.
            AppError::Http(_, error) => matches!(
                error.kind(),
                std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::PermissionDenied
            ),
            AppError::Store(_) | AppError::Metrics(_) => false,
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
                    _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
                }
            }
            _ => {
                tracing::warn!("cannot listen for SIGTERM; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the bot until a signal asks it to stop.
pub async fn run(config: Config) -> Result<(), AppError> {
    run_until(config, shutdown_signal()).await
}

/// Runs the bot until `shutdown` resolves; then stops taking updates, lets
/// the handlers and the outbox finish within `SHUTDOWN_GRACE`, cuts off what
/// is left (Telegram delivers it again), confirms the settled updates to
/// Telegram and returns.
pub async fn run_until(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let stop = CancellationToken::new();
    let stopped_at = Arc::new(std::sync::OnceLock::new());
    {
        let (stop, stopped_at) = (stop.clone(), Arc::clone(&stopped_at));
        tokio::spawn(async move {
            shutdown.await;
            let _ = stopped_at.set(Instant::now());
            stop.cancel();
            let _ = stop_tx.send(true);
        });
    }

    let Some(store) = until_stopped(&mut stop_rx, open_store(&config)).await else {
        return Ok(());
    };
    let store = store?;

    // A call that learns of a group's upgrade hands it to the lifecycle
    // module, as the upgrade's service message would. The state is made
    // after the client, so the hook finds it once it exists.
    let hook_state: Arc<std::sync::OnceLock<std::sync::Weak<AppState>>> = Arc::default();
    let on_migrate: MigrationHook = {
        let hook_state = Arc::clone(&hook_state);
        Arc::new(move |from, to| {
            let state = hook_state.get().and_then(std::sync::Weak::upgrade);
            Box::pin(async move {
                let Some(state) = state else {
                    return;
                };
                if let Err(error) = lifecycle::group_upgraded(&state, from, to).await {
                    tracing::error!(%error, from, to, "could not move a group's records to its supergroup");
                }
            })
        })
    };
    let metrics = Arc::new(Metrics::new().map_err(AppError::Metrics)?);
    let tg = Telegram::builder(&config.telegram_api_url, config.bot_token.expose())
        .send_limits(config.send_limits)
        .metrics(Arc::clone(&metrics))
        .on_migrate(on_migrate)
        .build();
    let get_me = retry(
        "getMe",
        || tg.call_with(GetMe::new(), RetryPolicy::ONCE),
        None,
    );
    let Some(me) = until_stopped(&mut stop_rx, get_me).await else {
        return Ok(());
    };
    let me = me?;
    // Listen before Telegram is told where to post.
    let http = match config.http_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|error| AppError::Http(addr, error))?,
        ),
        None => None,
    };
    // Polling needs no webhook; in webhook mode every replica sets the same
    // one, and none removes it when it stops: the others keep serving.
    let setup = match &config.webhook {
        None => until_stopped(&mut stop_rx, stop_webhook(&tg, config.take_over_webhook)).await,
        Some(webhook) => {
            until_stopped(
                &mut stop_rx,
                retry(
                    "setWebhook",
                    || set_webhook(&tg, webhook),
                    Some(AppError::WebhookRefused),
                ),
            )
            .await
        }
    };
    let Some(setup) = setup else {
        return Ok(());
    };
    setup?;
    register_commands(&tg).await;

    tracing::info!(
        backend = %store.backend(),
        username = %me.username(),
        "castellan is running with {} storage as @{}",
        store.backend(),
        me.username()
    );

    let state = Arc::new(AppState {
        telegram: tg.clone(),
        store: Arc::clone(&store),
        auth: Auth::new(tg.clone(), me.id),
        business: BusinessConnections::new(tg.clone(), Arc::clone(&store)),
        bot_username: me.username().to_owned(),
        reads_all_group_messages: me.can_read_all_group_messages,
        pace: UserPace::new(config.user_pace),
        business_pace: UserPace::with_budget(
            config.user_pace,
            crate::pace::BUSINESS_BURST,
            crate::pace::BUSINESS_REFILL,
        ),
        metrics: Arc::clone(&metrics),
        directory: Default::default(),
        guards: Default::default(),
    });
    let _ = hook_state.set(Arc::downgrade(&state));
    // Subscribed before any update is handled, so no announcement is missed.
    let follower = match store.admin_changes().await {
        Ok(None) => None,
        Ok(Some(changes)) => Some(tokio::spawn(follow_admin_changes(
            Arc::clone(&state),
            Some(changes),
        ))),
        Err(error) => {
            tracing::warn!(%error, "cannot listen to admin-change announcements yet");
            Some(tokio::spawn(follow_admin_changes(Arc::clone(&state), None)))
        }
    };
    let mode = match config.webhook {
        Some(_) => Mode::Webhook,
        None => Mode::Polling,
    };
    let intake = Intake::start(Arc::clone(&state), mode).await;
    let pruner = tokio::spawn(prune_handled_updates(Arc::clone(&store)));
    let webhook = config.webhook.as_ref().map(|webhook| WebhookRoute {
        path: webhook.url.path().to_owned(),
        secret: webhook.secret.clone(),
        intake: Arc::clone(&intake),
    });
    let server = http.map(|listener| {
        let http_state = Arc::new(HttpState {
            store: Arc::clone(&store),
            telegram: tg.clone(),
            metrics: Arc::clone(&metrics),
            metrics_token: config.metrics_token.clone(),
            webhook,
        });
        tokio::spawn(serve_http(listener, http_state, stop_rx.clone()))
    });
    let next_offset = match mode {
        Mode::Polling => Some(updates::poll(&tg, &metrics, &intake, POLL_TIMEOUT, &stop).await),
        Mode::Webhook => {
            stop.cancelled().await;
            None
        }
    };

    // Stopping: nothing new is taken in.
    let stopped_at = stopped_at.get().copied().unwrap_or_else(Instant::now);
    let deadline = stopped_at + config.shutdown_grace;
    let work_deadline = deadline
        .checked_sub(STOP_RESERVE)
        .unwrap_or(stopped_at)
        .max(stopped_at);
    // Handlers first (they may still queue replies), then what they queued.
    intake.finish(work_deadline).await;
    if !tg.drain(work_deadline).await {
        tracing::warn!("the stop's grace ran out before every queued message was sent");
    }
    if let Some(server) = server {
        // Every post in flight is settled: the server ends at once.
        match tokio::time::timeout_at(deadline, server).await {
            Ok(Err(error)) => tracing::error!(%error, "the HTTP server failed"),
            Err(_) => tracing::warn!("the HTTP server did not stop in time"),
            Ok(Ok(())) => {}
        }
    }
    if let Some(next) = next_offset {
        // Telegram forgets the settled updates; the rest come again.
        let offset = intake.final_offset(next);
        match tokio::time::timeout_at(deadline, updates::confirm(&tg, offset)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "could not confirm the handled updates"),
            Err(_) => tracing::warn!("confirming the handled updates took too long"),
        }
    }
    pruner.abort();
    if let Some(follower) = follower {
        follower.abort();
    }
    // Release the database cleanly (SQLite checkpoints its write-ahead log
    // into the file).
    if tokio::time::timeout_at(deadline, store.close())
        .await
        .is_err()
    {
        tracing::warn!("closing the database took too long");
    }
    tracing::info!("castellan stopped");
    Ok(())
}

/// Forgets handled-update records older than a day, now and then.
async fn prune_handled_updates(store: Arc<dyn Store>) {
    loop {
        match store
            .prune_handled_updates(crate::intake::prune_before())
            .await
        {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, "old handled-update records pruned"),
            Err(error) => tracing::warn!(%error, "could not prune handled-update records"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// Polling: makes sure Telegram keeps the updates for getUpdates. A webhook
/// set means a webhook deployment serves this bot: deleting it would take
/// the updates from every replica of it, so that is done only when asked
/// (`take_over`).
async fn stop_webhook(tg: &Telegram, take_over: bool) -> Result<(), AppError> {
    let info = retry(
        "getWebhookInfo",
        || tg.call_with(GetWebhookInfo::new(), RetryPolicy::ONCE),
        None,
    )
    .await?;
    if let Some(url) = info.url {
        let host = url.host_str().unwrap_or("no host").to_owned();
        if !take_over {
            return Err(AppError::WebhookSet { host });
        }
        tracing::warn!(
            %host,
            pending = info.pending_update_count,
            "TAKE_OVER_WEBHOOK: deleting the webhook Telegram posts to; this castellan polls \
             from now on, and whatever served the webhook gets no more updates"
        );
    }
    retry(
        "deleteWebhook",
        || tg.call_with(DeleteWebhook::new(), RetryPolicy::ONCE),
        None,
    )
    .await
    .map(drop)
}

/// Tells Telegram where to post, with the secret and the update kinds the
/// handlers use (an omitted list would keep whatever was set before).
async fn set_webhook(tg: &Telegram, webhook: &Webhook) -> Result<(), TelegramError> {
    let request = SetWebhook::new(webhook.url.clone())
        .secret_token(webhook.secret.expose().to_owned())
        .max_connections(webhook.max_connections)
        .allowed_updates(ALLOWED_UPDATES.to_vec());
    tg.call_with(request, RetryPolicy::ONCE).await.map(drop)
}

/// Serves HTTP within the server's limits until a stop is asked; requests
/// in flight are finished, idle and half-open connections closed at once.
async fn serve_http(
    listener: tokio::net::TcpListener,
    state: Arc<HttpState>,
    mut stop: watch::Receiver<bool>,
) {
    let address = listener.local_addr().ok();
    tracing::info!(?address, "serving HTTP");
    let shutdown = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    crate::http::serve(listener, state, Limits::default(), shutdown).await;
}

/// Keeps this process's admin cache in step with what the other castellans
/// on the database announce. `first` was subscribed before any update was
/// handled, so nothing was missed; after losing the subscription, anything
/// may have changed.
async fn follow_admin_changes(state: Arc<AppState>, first: Option<AdminChanges>) {
    let mut subscription = first;
    let mut attempt = 0;
    loop {
        if let Some(mut changes) = subscription.take() {
            attempt = 0;
            loop {
                match changes.next().await {
                    Ok(AdminChange::Chat(chat_id)) => state.auth.invalidate(chat_id),
                    Ok(AdminChange::Guards(chat_id)) => state.guards.invalidate(chat_id),
                    Ok(AdminChange::Member(chat_id, user_id)) => state.auth.invalidate_member(
                        chat_id,
                        teloxide::types::UserId(u64::try_from(user_id).unwrap_or(0)),
                    ),
                    Ok(AdminChange::Unknown) => {
                        state.auth.invalidate_all();
                        state.guards.invalidate_all();
                    }
                    Err(error) => {
                        tracing::warn!(%error, "lost the admin-change announcements");
                        break;
                    }
                }
            }
        }
        state.auth.invalidate_all();
        state.guards.invalidate_all();
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
        match state.store.admin_changes().await {
            Ok(Some(changes)) => {
                // Whatever was announced meanwhile is lost: start afresh.
                state.auth.invalidate_all();
                state.guards.invalidate_all();
                subscription = Some(changes);
            }
            // SQLite: one process, nobody else to hear.
            Ok(None) => return,
            Err(error) => tracing::warn!(%error, "cannot listen to admin-change announcements"),
        }
    }
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>, AppError> {
    let mut attempt = 0;
    loop {
        match store::open_with(&config.database_url, config.store_options()).await {
            Ok(store) => return Ok(store),
            // Wrong credentials or a missing database will not heal.
            Err(error) if error.is_refusal() => return Err(AppError::DatabaseRefused(error)),
            // Options the driver cannot use will not heal either.
            Err(error @ StoreError::Database(sqlx::Error::Configuration(_))) => {
                return Err(AppError::DatabaseUrl(error));
            }
            // A PostgreSQL server may come up after the bot (compose, reboots):
            // keep trying while it cannot be reached or is starting. Anything
            // else is reported, not retried; a SQLite file that cannot be
            // opened will not heal.
            Err(error)
                if error.is_unavailable() && config.database_url.backend() == Backend::Postgres =>
            {
                let delay = backoff(attempt);
                tracing::warn!(%error, "PostgreSQL is unreachable; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Retries a start-up call while Telegram is unreachable or failing. A
/// token Telegram refuses will not heal: that ends the start. So does any
/// other refusal (a 4xx other than 429) of a call that passes `refused`,
/// which makes the error to end with.
async fn retry<T, Fut>(
    what: &str,
    make: impl Fn() -> Fut,
    refused: Option<fn(TelegramError) -> AppError>,
) -> Result<T, AppError>
where
    Fut: Future<Output = Result<T, TelegramError>>,
{
    let mut attempt = 0;
    loop {
        match make().await {
            Ok(value) => return Ok(value),
            Err(error) if error.refusal() == Some(Refusal::InvalidToken) => {
                return Err(AppError::TokenRejected(error));
            }
            Err(error) => {
                // 429 comes as RateLimited, 5xx and lost connections as
                // Unavailable: only a definite refusal ends here.
                if let (Some(end), TelegramError::Refused { .. }) = (refused, &error) {
                    return Err(end(error));
                }
                let delay = error.retry_after().unwrap_or_else(|| backoff(attempt));
                tracing::warn!(%error, "{what} failed; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}

/// Runs `work` unless a stop is requested first.
async fn until_stopped<T>(
    stop: &mut watch::Receiver<bool>,
    work: impl Future<Output = T>,
) -> Option<T> {
    if *stop.borrow() {
        return None;
    }
    tokio::select! {
        value = work => Some(value),
        _ = stop.wait_for(|stopped| *stopped) => None,
    }
}

/// The command menus: one for private chats, one for groups, per language.
fn menu(lang: Lang, shown: impl Fn(&CommandSpec) -> bool) -> Vec<BotCommand> {
    registry::commands()
        .filter(|spec| shown(spec))
        .map(|spec| BotCommand::new(spec.name, t!(lang, &spec.description_key())))
        .collect()
}

async fn register_commands(tg: &Telegram) {
    for lang in Lang::ALL {
        let menus = [
            (
                BotCommandScope::AllPrivateChats,
                menu(lang, |s| s.in_private_menu),
            ),
            (
                BotCommandScope::AllGroupChats,
                menu(lang, |s| s.in_group_menu),
            ),
        ];
        for (scope, commands) in menus {
            let mut request = SetMyCommands::new(commands).scope(scope);
            if lang != Lang::En {
                request = request.language_code(lang.code());
            }
            // Menus are a convenience: the bot works without them.
            if let Err(error) = tg.call(request).await {
                tracing::warn!(%error, lang = lang.code(), "could not register the command menu");
            }
        }
    }
}
