//! `TestApp`: the real bot, in-process, talking to a fresh fake Bot API and
//! a fresh database — the `spawn_app` of these tests.

#![allow(dead_code)]

use std::time::Duration;

use castellan::app::{AppError, run_until};
use castellan::config::Config;
use fake_bot_api::{BOT_TOKEN, FakeTelegram, MemberStatus, SentMessage};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::db::{Backend, TestDb};

pub struct TestApp {
    pub tg: FakeTelegram,
    pub db: TestDb,
    /// The running bot; `None` while stopped.
    bot: Option<Replica>,
    /// Configuration variables that differ from [`config`]'s.
    overrides: Vec<(String, String)>,
}

/// A fresh fake Telegram as castellan's tests want it: Telegram's flood
/// limits enforced (a test that must exceed them says so), and `http://`
/// webhooks accepted as by a local Bot API server (the tests have no TLS;
/// Telegram itself refuses them).
pub async fn test_fake() -> FakeTelegram {
    let tg = FakeTelegram::start().await;
    tg.enforce_flood_limits(true);
    tg.allow_http_webhooks(true);
    tg
}

/// A running bot for a test whose script has it answer faster than
/// Telegram lets a bot write to one chat (several messages a second, as no
/// person types): castellan keeps no send limits (`SEND_LIMITS=off`) and
/// the fake enforces none, which keeps such tests quick. Every other test
/// keeps both, as in production. `None` when the backend is skipped.
pub async fn spawn_unlimited(backend: Backend) -> Option<TestApp> {
    let app = TestApp::spawn_with(backend, &[("SEND_LIMITS", "off")]).await?;
    app.tg.enforce_flood_limits(false);
    Some(app)
}

pub fn config(tg: &FakeTelegram, database_url: &str) -> Config {
    config_with(tg, database_url, &[])
}

/// [`config`], with some variables set otherwise.
pub fn config_with(
    tg: &FakeTelegram,
    database_url: &str,
    overrides: &[(String, String)],
) -> Config {
    let api_url = tg.api_url();
    let database_url = database_url.to_owned();
    Config::from_lookup(|name| {
        if let Some((_, value)) = overrides.iter().find(|(key, _)| key == name) {
            return Some(value.clone());
        }
        match name {
            "BOT_TOKEN" => Some(BOT_TOKEN.to_owned()),
            "DATABASE_URL" => Some(database_url.clone()),
            "TELEGRAM_API_URL" => Some(api_url.clone()),
            // Telegram's per-chat limits, kept as in production: the fake
            // enforces them.
            "SEND_LIMITS" => Some("on".to_owned()),
            // Test scripts type faster than people: only pace tests slow them.
            "USER_PACE" => Some("off".to_owned()),
            _ => None,
        }
    })
    .unwrap_or_else(|e| panic!("test configuration is invalid: {e}"))
}

type BotTask = JoinHandle<Result<(), AppError>>;

/// Starts a bot and waits until it has set up: migrations ran, getMe
/// answered, the webhook removed (polling) or set (webhook mode). Updates
/// sent before it polls or serves wait for it, as on Telegram.
async fn start_bot(
    tg: &FakeTelegram,
    database_url: &str,
    overrides: &[(String, String)],
) -> (oneshot::Sender<()>, BotTask) {
    let setups = |tg: &FakeTelegram| {
        tg.requests_for("deleteWebhook").len() + tg.requests_for("setWebhook").len()
    };
    let before = setups(tg);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let config = config_with(tg, database_url, overrides);
    let task = tokio::spawn(run_until(config, async move {
        let _ = stop_rx.await;
    }));
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        while setups(tg) <= before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(ready.is_ok(), "the bot did not start within 20 s");
    (stop_tx, task)
}

/// A second castellan of a [`TestApp`] (see [`TestApp::spawn_replica`]).
pub struct Replica {
    stop: Option<oneshot::Sender<()>>,
    task: Option<BotTask>,
}

impl Replica {
    /// Stops it as SIGTERM would and waits for a clean exit.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .unwrap_or_else(|_| panic!("the bot did not stop within 10 s"));
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("the bot stopped with an error: {e}"),
                Err(e) => panic!("the bot task failed: {e}"),
            }
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn owned(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    overrides
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// A castellan on `database_url` and `tg`, configured with `overrides`,
/// once it has set up (see [`start_bot`]). Stops when dropped.
pub async fn spawn_bot(
    tg: &FakeTelegram,
    database_url: &str,
    overrides: &[(String, String)],
) -> Replica {
    let (stop, task) = start_bot(tg, database_url, overrides).await;
    Replica {
        stop: Some(stop),
        task: Some(task),
    }
}

/// A local address nothing listens on now, for a bot's HTTP_ADDR.
pub fn free_local_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

impl TestApp {
    /// A running bot on `backend`, or `None` when that backend is skipped.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        let tg = test_fake().await;
        Some(Self::start(tg, db).await)
    }

    /// Like [`spawn`](Self::spawn), with the fake Telegram prepared first
    /// (faults to meet at start-up, say).
    pub async fn spawn_prepared(
        backend: Backend,
        prepare: impl FnOnce(&FakeTelegram),
    ) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        let tg = test_fake().await;
        prepare(&tg);
        Some(Self::start(tg, db).await)
    }

    /// Like [`spawn`](Self::spawn), with some configuration variables set
    /// otherwise (`SEND_LIMITS=on`, say).
    pub async fn spawn_with(backend: Backend, overrides: &[(&str, &str)]) -> Option<TestApp> {
        let db = TestDb::new(backend).await?;
        let tg = test_fake().await;
        Some(Self::start_with(tg, db, owned(overrides)).await)
    }

    /// A running bot on a database the test prepared (reached through a
    /// proxy, say).
    pub async fn spawn_on(db: TestDb) -> TestApp {
        Self::spawn_on_with(db, &[]).await
    }

    /// [`spawn_on`](Self::spawn_on) with some configuration set otherwise.
    pub async fn spawn_on_with(db: TestDb, overrides: &[(&str, &str)]) -> TestApp {
        let tg = test_fake().await;
        Self::start_with(tg, db, owned(overrides)).await
    }

    async fn start(tg: FakeTelegram, db: TestDb) -> TestApp {
        Self::start_with(tg, db, Vec::new()).await
    }

    async fn start_with(tg: FakeTelegram, db: TestDb, overrides: Vec<(String, String)>) -> TestApp {
        let mut app = TestApp {
            tg,
            db,
            bot: None,
            overrides,
        };
        app.launch().await;
        app
    }

    /// Starts the bot and waits until it has set up (see [`start_bot`]).
    async fn launch(&mut self) {
        let (stop, task) = start_bot(&self.tg, &self.db.url, &self.overrides).await;
        self.bot = Some(Replica {
            stop: Some(stop),
            task: Some(task),
        });
    }

    /// Another castellan on the same database and Telegram, configured with
    /// `overrides` (a webhook replica, say). Stops when dropped.
    pub async fn spawn_replica(&self, overrides: &[(&str, &str)]) -> Replica {
        spawn_bot(&self.tg, &self.db.url, &owned(overrides)).await
    }

    /// Stops the bot as SIGTERM would and waits for it to exit cleanly.
    pub async fn stop(&mut self) {
        if let Some(mut bot) = self.bot.take() {
            bot.stop().await;
        }
    }

    /// Stops the bot and starts a new one on the same database and Telegram.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    /// A user writes `text` to the bot in PM; returns the bot's next message there.
    pub async fn pm(&self, user: i64, text: &str) -> SentMessage {
        self.tg.send_text(user, user, text);
        self.tg.next_message(user).await
    }

    /// A user writes in a group; returns the bot's next message in the group.
    pub async fn say(&self, user: i64, chat: i64, text: &str) -> SentMessage {
        self.tg.send_text(user, chat, text);
        self.tg.next_message(chat).await
    }

    /// `user` sends `/id` to the bot: its very next message in their
    /// private chat is the answer, so nothing stray came before it.
    pub async fn id_in_pm(&self, user: i64) {
        self.tg
            .assert_next_is_answer_to(user, user, "/id", |answer, _| {
                answer.text == format!("Your id: {user}")
            })
            .await;
    }

    /// `user` sends `/id` in the group: the bot's very next message there
    /// is the answer, so nothing stray came before it.
    pub async fn id_in_group(&self, user: i64, chat: i64) {
        self.tg
            .assert_next_is_answer_to(user, chat, "/id", |answer, _| {
                answer.text.contains(&format!("This chat's id: {chat}"))
            })
            .await;
    }

    /// A group with an owner (who has started the bot in PM) and the bot in it.
    pub fn group_with_owner(&self, title: &str) -> (i64, i64) {
        let owner = self.tg.add_user("Owner");
        let chat = self.tg.add_supergroup(title, None);
        self.tg.set_member(chat, owner, MemberStatus::Creator);
        (chat, owner)
    }

    /// A new user with `status` in `chat`.
    pub fn user_in(&self, chat: i64, name: &str, status: MemberStatus) -> i64 {
        let user = self.tg.add_user(name);
        self.tg.set_member(chat, user, status);
        user
    }

    /// `admin` runs an admin command in `chat`, is demoted, tries again, is
    /// promoted and tries again: each answer follows their rights at once.
    pub async fn assert_admin_changes_seen_at_once(&self, chat: i64, admin: i64) {
        let reply = self.say(admin, chat, "/allowconnect").await;
        assert!(reply.text.starts_with("Members may"), "{}", reply.text);
        self.tg.change_member(chat, admin, MemberStatus::Member);
        let reply = self.say(admin, chat, "/allowconnect").await;
        assert_eq!(reply.text, "Only admins can use /allowconnect.");
        self.tg
            .change_member(chat, admin, MemberStatus::Administrator);
        let reply = self.say(admin, chat, "/allowconnect").await;
        assert!(reply.text.starts_with("Members may"), "{}", reply.text);
    }

    /// Every request the bot made followed the Bot API specification.
    pub fn assert_spec_clean(&self) {
        let violations = self.tg.spec_violations();
        assert!(
            violations.is_empty(),
            "requests broke the Bot API spec: {violations:#?}"
        );
    }
}

impl Drop for TestApp {
    /// Stops the bot, and checks (unless the test already failed) that every
    /// request it made followed the Bot API specification.
    fn drop(&mut self) {
        // Dropping the bot asks it to stop.
        self.bot = None;
        if !std::thread::panicking() {
            self.assert_spec_clean();
        }
    }
}

/// The callback data of every inline button of a message, row by row.
pub fn button_data(message: &SentMessage) -> Vec<String> {
    buttons(message, "callback_data")
}

/// The URLs of a message's URL buttons.
pub fn button_urls(message: &SentMessage) -> Vec<String> {
    buttons(message, "url")
}

fn buttons(message: &SentMessage, field: &str) -> Vec<String> {
    let Some(markup) = &message.reply_markup else {
        return Vec::new();
    };
    markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().into_iter().flatten())
        .filter_map(|button| button[field].as_str().map(str::to_owned))
        .collect()
}
