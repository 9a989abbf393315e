//! The storage suite: every `Store` method, on both backends.

use std::collections::HashSet;
use std::sync::Arc;

use castellan::store::{ConnectedChat, FormattedText, HISTORY_LIMIT, Note, SqliteStore, Store};

use crate::db::{Backend, TestDb};

crate::backend_tests!(
    reports_its_backend,
    connect_disconnect_current,
    reconnect_replaces_current_connection,
    users_are_independent,
    history_is_newest_first_and_deduplicated,
    history_is_trimmed_to_limit,
    reconnect_updates_title,
    disconnect_keeps_history,
    allow_connect_defaults_to_true_and_toggles,
    notes_save_replace_get_list_delete,
    notes_are_per_chat,
    rules_set_get_clear,
    large_ids_and_unicode_round_trip,
    migrate_chat_moves_everything,
    migrate_chat_keeps_new_records_on_conflict,
    migrate_chat_to_same_id_is_a_no_op,
    persists_across_reopening,
    reopening_without_close_keeps_data,
    concurrent_connects_leave_one_current_connection,
    concurrent_writes_do_not_fail,
    concurrent_writes_from_two_stores_do_not_fail,
    tables_live_in_the_test_database,
);

fn chat(chat_id: i64, title: &str) -> ConnectedChat {
    ConnectedChat {
        chat_id,
        chat_title: title.to_owned(),
    }
}

fn text(text: &str, entities_json: &str) -> FormattedText {
    FormattedText {
        text: text.to_owned(),
        entities_json: entities_json.to_owned(),
    }
}

fn note(name: &str, body: &str) -> Note {
    Note {
        name: name.to_owned(),
        content: text(body, "[]"),
    }
}

fn ids(chats: &[ConnectedChat]) -> Vec<i64> {
    chats.iter().map(|c| c.chat_id).collect()
}

/// Opens a fresh store, or `None` when the backend is skipped.
async fn fresh(backend: Backend) -> Option<(TestDb, Arc<dyn Store>)> {
    let db = TestDb::new(backend).await?;
    let store = db.open().await;
    Some((db, store))
}

// --- connections ---------------------------------------------------------

async fn reports_its_backend(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert_eq!(store.backend(), backend);
}

async fn connect_disconnect_current(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert_eq!(store.current_connection(1).await.unwrap(), None);
    assert_eq!(store.disconnect(1).await.unwrap(), None);
    assert!(store.recent_chats(1).await.unwrap().is_empty());

    store.connect(1, &chat(-100, "Group")).await.unwrap();
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(-100, "Group"))
    );

    assert_eq!(
        store.disconnect(1).await.unwrap(),
        Some(chat(-100, "Group"))
    );
    assert_eq!(store.current_connection(1).await.unwrap(), None);
    assert_eq!(store.disconnect(1).await.unwrap(), None);
}

async fn reconnect_replaces_current_connection(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    store.connect(1, &chat(-100, "A")).await.unwrap();
    store.connect(1, &chat(-200, "B")).await.unwrap();
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(-200, "B"))
    );
    let rows = db
        .query_i64(
            "SELECT COUNT(*) FROM current_connections WHERE user_id = $1",
            &[1],
        )
        .await;
    assert_eq!(rows, 1);
}

async fn users_are_independent(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    store.connect(1, &chat(-100, "A")).await.unwrap();
    store.connect(2, &chat(-200, "B")).await.unwrap();
    store.connect(2, &chat(-100, "A")).await.unwrap();
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(-100, "A"))
    );
    assert_eq!(
        store.current_connection(2).await.unwrap(),
        Some(chat(-100, "A"))
    );
    assert_eq!(ids(&store.recent_chats(1).await.unwrap()), [-100]);
    assert_eq!(ids(&store.recent_chats(2).await.unwrap()), [-100, -200]);

    store.disconnect(2).await.unwrap();
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(-100, "A"))
    );
    assert_eq!(store.current_connection(2).await.unwrap(), None);
}

async fn history_is_newest_first_and_deduplicated(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    // Back-to-back connects, well within one millisecond of each other:
    // the order must still be exact.
    for id in [-1, -2, -3, -2, -1, -1] {
        store
            .connect(7, &chat(id, &format!("chat {id}")))
            .await
            .unwrap();
    }
    assert_eq!(
        store.recent_chats(7).await.unwrap(),
        [
            chat(-1, "chat -1"),
            chat(-2, "chat -2"),
            chat(-3, "chat -3")
        ]
    );
}

async fn history_is_trimmed_to_limit(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    assert_eq!(HISTORY_LIMIT, 5);
    for id in 1..=12 {
        store.connect(7, &chat(-id, "x")).await.unwrap();
    }
    assert_eq!(
        ids(&store.recent_chats(7).await.unwrap()),
        [-12, -11, -10, -9, -8]
    );
    // Trimmed in the table too, not only in the listing.
    let rows = db
        .query_i64(
            "SELECT COUNT(*) FROM connection_history WHERE user_id = $1",
            &[7],
        )
        .await;
    assert_eq!(rows, 5);

    // An old chat coming back moves to the front and pushes the oldest out.
    store.connect(7, &chat(-9, "x")).await.unwrap();
    assert_eq!(
        ids(&store.recent_chats(7).await.unwrap()),
        [-9, -12, -11, -10, -8]
    );
    store.connect(7, &chat(-1, "x")).await.unwrap();
    assert_eq!(
        ids(&store.recent_chats(7).await.unwrap()),
        [-1, -9, -12, -11, -10]
    );
}

async fn reconnect_updates_title(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    store.connect(1, &chat(-100, "Old name")).await.unwrap();
    store.connect(1, &chat(-200, "Other")).await.unwrap();
    store.connect(1, &chat(-100, "New name")).await.unwrap();
    assert_eq!(
        store.recent_chats(1).await.unwrap(),
        [chat(-100, "New name"), chat(-200, "Other")]
    );
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(-100, "New name"))
    );
}

async fn disconnect_keeps_history(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    store.connect(1, &chat(-100, "A")).await.unwrap();
    store.connect(1, &chat(-200, "B")).await.unwrap();
    store.disconnect(1).await.unwrap();
    assert_eq!(
        store.recent_chats(1).await.unwrap(),
        [chat(-200, "B"), chat(-100, "A")]
    );
    // Reconnecting after a disconnect continues the same history.
    store.connect(1, &chat(-300, "C")).await.unwrap();
    assert_eq!(
        ids(&store.recent_chats(1).await.unwrap()),
        [-300, -200, -100]
    );
}

// --- settings ------------------------------------------------------------

async fn allow_connect_defaults_to_true_and_toggles(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert!(store.allow_connect(-100).await.unwrap());
    store.set_allow_connect(-100, false).await.unwrap();
    assert!(!store.allow_connect(-100).await.unwrap());
    assert!(
        store.allow_connect(-200).await.unwrap(),
        "other chats keep the default"
    );
    store.set_allow_connect(-100, false).await.unwrap();
    assert!(!store.allow_connect(-100).await.unwrap());
    store.set_allow_connect(-100, true).await.unwrap();
    assert!(store.allow_connect(-100).await.unwrap());
}

// --- notes ---------------------------------------------------------------

async fn notes_save_replace_get_list_delete(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let chat_id = -100;
    assert_eq!(store.note(chat_id, "rules").await.unwrap(), None);
    assert!(store.note_names(chat_id).await.unwrap().is_empty());

    let bold = Note {
        name: "welcome".to_owned(),
        content: text("Hi all", r#"[{"type":"bold","offset":0,"length":2}]"#),
    };
    assert!(!store.save_note(chat_id, &bold).await.unwrap(), "new note");
    assert_eq!(
        store.note(chat_id, "welcome").await.unwrap(),
        Some(bold.clone())
    );

    let replaced = note("welcome", "Hello again");
    assert!(
        store.save_note(chat_id, &replaced).await.unwrap(),
        "replaced"
    );
    assert_eq!(
        store.note(chat_id, "welcome").await.unwrap(),
        Some(replaced)
    );

    // Sorted byte-wise by name, whatever the database's locale.
    for name in ["zeta", "alpha", "b_2", "b1", "beta", "_x", "9", "ä"] {
        assert!(!store.save_note(chat_id, &note(name, name)).await.unwrap());
    }
    assert_eq!(
        store.note_names(chat_id).await.unwrap(),
        [
            "9", "_x", "alpha", "b1", "b_2", "beta", "welcome", "zeta", "ä"
        ]
    );

    assert!(store.delete_note(chat_id, "beta").await.unwrap());
    assert!(!store.delete_note(chat_id, "beta").await.unwrap());
    assert!(!store.delete_note(chat_id, "missing").await.unwrap());
    assert_eq!(store.note(chat_id, "beta").await.unwrap(), None);
    assert_eq!(store.note_names(chat_id).await.unwrap().len(), 8);
}

async fn notes_are_per_chat(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    store.save_note(-1, &note("faq", "one")).await.unwrap();
    assert!(!store.save_note(-2, &note("faq", "two")).await.unwrap());
    assert_eq!(
        store.note(-1, "faq").await.unwrap(),
        Some(note("faq", "one"))
    );
    assert_eq!(
        store.note(-2, "faq").await.unwrap(),
        Some(note("faq", "two"))
    );
    assert!(store.delete_note(-1, "faq").await.unwrap());
    assert_eq!(
        store.note(-2, "faq").await.unwrap(),
        Some(note("faq", "two"))
    );
    assert_eq!(store.note_names(-1).await.unwrap(), Vec::<String>::new());
    assert_eq!(store.note_names(-2).await.unwrap(), ["faq"]);
}

// --- rules ---------------------------------------------------------------

async fn rules_set_get_clear(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert_eq!(store.rules(-100).await.unwrap(), None);
    assert!(!store.clear_rules(-100).await.unwrap());

    let first = text("Be nice", r#"[{"type":"italic","offset":3,"length":4}]"#);
    store.set_rules(-100, &first).await.unwrap();
    assert_eq!(store.rules(-100).await.unwrap(), Some(first));
    let second = text("Be kind", "[]");
    store.set_rules(-100, &second).await.unwrap();
    assert_eq!(store.rules(-100).await.unwrap(), Some(second));
    assert_eq!(store.rules(-200).await.unwrap(), None);

    assert!(store.clear_rules(-100).await.unwrap());
    assert_eq!(store.rules(-100).await.unwrap(), None);
    assert!(!store.clear_rules(-100).await.unwrap());
}

async fn large_ids_and_unicode_round_trip(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let user = i64::MAX;
    let group = -1_009_876_543_210; // a supergroup id needs more than 32 bits
    let title = "Ünïcødé 👋 «group» 'quoted' \"double\" ; DROP TABLE notes; --";
    store.connect(user, &chat(group, title)).await.unwrap();
    store.connect(user, &chat(i64::MIN, "min")).await.unwrap();
    assert_eq!(
        store.recent_chats(user).await.unwrap(),
        [chat(i64::MIN, "min"), chat(group, title)]
    );

    let entities =
        r#"[{"type":"text_link","offset":0,"length":2,"url":"https://example.org/?a=1&b=\"2\""}]"#;
    let body = text("👋 hi\nsecond line\ttab", entities);
    store.set_rules(group, &body).await.unwrap();
    assert_eq!(store.rules(group).await.unwrap(), Some(body.clone()));
    let n = Note {
        name: "привет".to_owned(),
        content: body,
    };
    store.save_note(group, &n).await.unwrap();
    assert_eq!(store.note(group, "привет").await.unwrap(), Some(n));
    store.set_allow_connect(group, false).await.unwrap();
    assert!(!store.allow_connect(group).await.unwrap());
}

// --- chat migration ------------------------------------------------------

async fn migrate_chat_moves_everything(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    let (old, new) = (-100, -1_001_234_567_890);
    store.connect(1, &chat(-5, "Elsewhere")).await.unwrap();
    store.connect(1, &chat(old, "Group")).await.unwrap();
    store.connect(2, &chat(old, "Group")).await.unwrap();
    store.connect(2, &chat(-6, "Other")).await.unwrap();
    store.set_allow_connect(old, false).await.unwrap();
    store.save_note(old, &note("a", "A")).await.unwrap();
    store.save_note(old, &note("b", "B")).await.unwrap();
    store.set_rules(old, &text("Rules", "[]")).await.unwrap();
    // Records of unrelated chats stay put.
    store.save_note(-6, &note("a", "six")).await.unwrap();

    store.migrate_chat(old, new).await.unwrap();

    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(new, "Group"))
    );
    assert_eq!(
        store.current_connection(2).await.unwrap(),
        Some(chat(-6, "Other"))
    );
    assert_eq!(
        store.recent_chats(1).await.unwrap(),
        [chat(new, "Group"), chat(-5, "Elsewhere")]
    );
    assert_eq!(
        store.recent_chats(2).await.unwrap(),
        [chat(-6, "Other"), chat(new, "Group")]
    );
    assert!(!store.allow_connect(new).await.unwrap());
    assert!(
        store.allow_connect(old).await.unwrap(),
        "old id is back to defaults"
    );
    assert_eq!(store.note_names(new).await.unwrap(), ["a", "b"]);
    assert_eq!(store.note(new, "b").await.unwrap(), Some(note("b", "B")));
    assert!(store.note_names(old).await.unwrap().is_empty());
    assert_eq!(store.note(-6, "a").await.unwrap(), Some(note("a", "six")));
    assert_eq!(store.rules(new).await.unwrap(), Some(text("Rules", "[]")));
    assert_eq!(store.rules(old).await.unwrap(), None);

    // Nothing is left under the old id, in any table.
    for table in [
        "current_connections",
        "connection_history",
        "chat_settings",
        "notes",
        "rules",
    ] {
        let left = db
            .query_i64(
                &format!("SELECT COUNT(*) FROM {table} WHERE chat_id = $1"),
                &[old],
            )
            .await;
        assert_eq!(left, 0, "{table} still has rows of the old chat id");
    }

    // Migrating a chat with no records at all is fine too.
    store.migrate_chat(-77, -78).await.unwrap();
}

async fn migrate_chat_keeps_new_records_on_conflict(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let (old, new) = (-100, -1_000_000_000_100);
    // User 1 has both ids in their history: the new id's entry (with its
    // title and position) wins and the old one disappears.
    store.connect(1, &chat(old, "Old title")).await.unwrap();
    store.connect(1, &chat(-5, "Elsewhere")).await.unwrap();
    store.connect(1, &chat(new, "New title")).await.unwrap();
    store.connect(1, &chat(old, "Old title")).await.unwrap();
    store.set_allow_connect(old, false).await.unwrap();
    store.set_allow_connect(new, true).await.unwrap();
    store.save_note(old, &note("shared", "old")).await.unwrap();
    store
        .save_note(old, &note("only_old", "old"))
        .await
        .unwrap();
    store.save_note(new, &note("shared", "new")).await.unwrap();
    store
        .save_note(new, &note("only_new", "new"))
        .await
        .unwrap();
    store
        .set_rules(old, &text("old rules", "[]"))
        .await
        .unwrap();
    store
        .set_rules(new, &text("new rules", "[]"))
        .await
        .unwrap();

    store.migrate_chat(old, new).await.unwrap();

    // The current connection is keyed by user: it follows the chat.
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(new, "Old title"))
    );
    assert_eq!(
        store.recent_chats(1).await.unwrap(),
        [chat(new, "New title"), chat(-5, "Elsewhere")]
    );
    assert!(store.allow_connect(new).await.unwrap());
    assert_eq!(
        store.note_names(new).await.unwrap(),
        ["only_new", "only_old", "shared"]
    );
    assert_eq!(
        store.note(new, "shared").await.unwrap(),
        Some(note("shared", "new"))
    );
    assert_eq!(
        store.note(new, "only_old").await.unwrap(),
        Some(note("only_old", "old"))
    );
    assert_eq!(
        store.rules(new).await.unwrap(),
        Some(text("new rules", "[]"))
    );
    assert!(store.note_names(old).await.unwrap().is_empty());
    assert_eq!(store.rules(old).await.unwrap(), None);
}

async fn migrate_chat_to_same_id_is_a_no_op(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    store.connect(1, &chat(-100, "A")).await.unwrap();
    store.save_note(-100, &note("a", "A")).await.unwrap();
    store.migrate_chat(-100, -100).await.unwrap();
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(-100, "A"))
    );
    assert_eq!(store.note(-100, "a").await.unwrap(), Some(note("a", "A")));
}

// --- persistence ---------------------------------------------------------

async fn write_sample(store: &dyn Store) {
    store.connect(1, &chat(-100, "A")).await.unwrap();
    store.connect(1, &chat(-200, "B")).await.unwrap();
    store.connect(2, &chat(-100, "A")).await.unwrap();
    store.disconnect(2).await.unwrap();
    store.set_allow_connect(-100, false).await.unwrap();
    store.save_note(-100, &note("n", "body")).await.unwrap();
    store.set_rules(-100, &text("r", "[]")).await.unwrap();
}

async fn check_sample(store: &dyn Store) {
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(-200, "B"))
    );
    assert_eq!(ids(&store.recent_chats(1).await.unwrap()), [-200, -100]);
    assert_eq!(store.current_connection(2).await.unwrap(), None);
    assert_eq!(ids(&store.recent_chats(2).await.unwrap()), [-100]);
    assert!(!store.allow_connect(-100).await.unwrap());
    assert_eq!(
        store.note(-100, "n").await.unwrap(),
        Some(note("n", "body"))
    );
    assert_eq!(store.rules(-100).await.unwrap(), Some(text("r", "[]")));
}

async fn persists_across_reopening(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    {
        let store = db.open().await;
        write_sample(store.as_ref()).await;
        store.close().await;
    }
    // Opening again runs the (already applied) migrations again: harmless.
    let store = db.open().await;
    check_sample(store.as_ref()).await;
    // History continues in order after a reopen.
    store.connect(1, &chat(-300, "C")).await.unwrap();
    assert_eq!(
        ids(&store.recent_chats(1).await.unwrap()),
        [-300, -200, -100]
    );
}

async fn reopening_without_close_keeps_data(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let first = db.open().await;
    write_sample(first.as_ref()).await;
    drop(first);
    let second = db.open().await;
    check_sample(second.as_ref()).await;
}

// --- concurrency ---------------------------------------------------------

async fn concurrent_connects_leave_one_current_connection(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    let user = 42;
    let chats: Vec<i64> = (1..=20).map(|i| -1000 - i).collect();
    let tasks: Vec<_> = chats
        .iter()
        .map(|&chat_id| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.connect(user, &chat(chat_id, "t")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let rows = db
        .query_i64(
            "SELECT COUNT(*) FROM current_connections WHERE user_id = $1",
            &[user],
        )
        .await;
    assert_eq!(rows, 1, "exactly one current connection row");
    let current = store.current_connection(user).await.unwrap().unwrap();
    assert!(chats.contains(&current.chat_id));

    let history = store.recent_chats(user).await.unwrap();
    assert_eq!(history.len(), HISTORY_LIMIT);
    let distinct: HashSet<i64> = ids(&history).into_iter().collect();
    assert_eq!(distinct.len(), HISTORY_LIMIT, "no duplicates: {history:?}");
    assert!(history.iter().all(|c| chats.contains(&c.chat_id)));
    assert_eq!(
        history[0], current,
        "the last connect is both current and newest"
    );
    let stored = db
        .query_i64(
            "SELECT COUNT(*) FROM connection_history WHERE user_id = $1",
            &[user],
        )
        .await;
    assert_eq!(stored, HISTORY_LIMIT as i64, "history trimmed in the table");
}

/// Many users writing every kind of record at once: nothing fails (on SQLite:
/// no "database is locked") and every write is there afterwards.
async fn concurrent_writes_do_not_fail(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let tasks: Vec<_> = (0..16_i64)
        .map(|user| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { write_burst(store.as_ref(), user).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    for user in 0..16 {
        check_burst(store.as_ref(), user).await;
    }
}

/// Two stores on one database (as two bot processes would be): on SQLite
/// they share no in-process lock, so only `BEGIN IMMEDIATE` and the busy
/// timeout keep writes from failing with "database is locked".
async fn concurrent_writes_from_two_stores_do_not_fail(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let stores = [db.open().await, db.open().await];
    let tasks: Vec<_> = (0..16_i64)
        .map(|user| {
            let store = Arc::clone(&stores[(user % 2) as usize]);
            tokio::spawn(async move { write_burst(store.as_ref(), user).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    for user in 0..16 {
        check_burst(stores[0].as_ref(), user).await;
    }
    // Also concurrent connects of one user through both stores.
    let tasks: Vec<_> = (0..20_i64)
        .map(|i| {
            let store = Arc::clone(&stores[(i % 2) as usize]);
            tokio::spawn(async move { store.connect(99, &chat(-i - 1, "t")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let current = stores[1].current_connection(99).await.unwrap().unwrap();
    let history = stores[0].recent_chats(99).await.unwrap();
    assert_eq!(history.len(), HISTORY_LIMIT);
    assert_eq!(history[0], current);
    let rows = db
        .query_i64(
            "SELECT COUNT(*) FROM current_connections WHERE user_id = $1",
            &[99],
        )
        .await;
    assert_eq!(rows, 1);
}

/// A user's share of a concurrent workload: their own chat id is `-user - 1`.
async fn write_burst(store: &dyn Store, user: i64) {
    let own = -user - 1;
    for round in 0..5_i64 {
        store
            .connect(user, &chat(-100 - round, "shared"))
            .await
            .unwrap_or_else(|e| panic!("connect failed: {e}"));
        store.connect(user, &chat(own, "own")).await.unwrap();
        store
            .save_note(own, &note(&format!("n{round}"), "x"))
            .await
            .unwrap_or_else(|e| panic!("save_note failed: {e}"));
        store
            .set_rules(own, &text(&format!("r{round}"), "[]"))
            .await
            .unwrap();
        store.set_allow_connect(own, round % 2 == 0).await.unwrap();
        // Shared records everyone writes to.
        store
            .save_note(-999, &note(&format!("u{user}"), "x"))
            .await
            .unwrap();
        store.set_rules(-999, &text("shared", "[]")).await.unwrap();
    }
    store.delete_note(own, "n0").await.unwrap();
}

async fn check_burst(store: &dyn Store, user: i64) {
    let own = -user - 1;
    assert_eq!(
        store.current_connection(user).await.unwrap(),
        Some(chat(own, "own"))
    );
    assert_eq!(
        ids(&store.recent_chats(user).await.unwrap()),
        [own, -104, -103, -102, -101]
    );
    assert_eq!(
        store.note_names(own).await.unwrap(),
        ["n1", "n2", "n3", "n4"]
    );
    assert_eq!(store.rules(own).await.unwrap(), Some(text("r4", "[]")));
    assert!(store.allow_connect(own).await.unwrap());
    assert!(
        store
            .note(-999, &format!("u{user}"))
            .await
            .unwrap()
            .is_some()
    );
}

// --- schema placement ----------------------------------------------------

/// The migrations created the tables where the test database points: on
/// PostgreSQL, in the test's own schema (through `search_path` in the URL).
async fn tables_live_in_the_test_database(backend: Backend) {
    let Some((db, _store)) = fresh(backend).await else {
        return;
    };
    match backend {
        Backend::Sqlite => {
            let tables = db
                .query_i64(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN
                     ('current_connections', 'connection_history', 'chat_settings', 'notes', 'rules', '_sqlx_migrations')",
                    &[],
                )
                .await;
            assert_eq!(tables, 6);
        }
        Backend::Postgres => {
            let schema = db.schema.clone().unwrap();
            let in_schema = db
                .query_i64(
                    "SELECT COUNT(*) FROM information_schema.tables
                     WHERE table_schema = current_schema() AND table_name IN
                     ('current_connections', 'connection_history', 'chat_settings', 'notes', 'rules', '_sqlx_migrations')",
                    &[],
                )
                .await;
            assert_eq!(in_schema, 6);
            let is_test_schema = db
                .query_i64(
                    &format!("SELECT COUNT(*) WHERE current_schema() = '{schema}'"),
                    &[],
                )
                .await;
            assert_eq!(is_test_schema, 1, "current_schema() is the test's schema");
        }
    }
}

// --- SQLite specifics ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_databases_work_and_are_private() {
    let a = SqliteStore::open("sqlite::memory:").await.unwrap();
    let b = SqliteStore::open("sqlite::memory:").await.unwrap();
    a.connect(1, &chat(-100, "A")).await.unwrap();
    a.save_note(-100, &note("n", "x")).await.unwrap();
    // Still there after other statements: the database lives with the store.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        a.current_connection(1).await.unwrap(),
        Some(chat(-100, "A"))
    );
    assert_eq!(a.note_names(-100).await.unwrap(), ["n"]);
    assert_eq!(b.current_connection(1).await.unwrap(), None);
    assert!(b.note_names(-100).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_creates_a_missing_file_with_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::open(&url).await.unwrap();
    assert!(path.exists());
    store.connect(1, &chat(-1, "x")).await.unwrap();
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode.to_ascii_lowercase(), "wal");
    store.close().await;
}
