//! The storage suite: every `Store` method, on both backends.

use std::collections::HashSet;
use std::sync::Arc;

use castellan::store::{
    ACTION_LOG_LIMIT, AdminChange, BusinessConnectionRecord, BusinessRecorded, ConnectedChat,
    DEFAULT_WARN_LIMIT, FLOOD_WINDOW_LIMIT, FloodCount, FloodSettings, FormattedText, GuardAction,
    GuardSet, HISTORY_LIMIT, KnownUser, ModAction, Note, Space, SqlStore, Store,
    StoredBusinessConnection, UpdateClaim, Warn, WarnAdded, WarnMode, WarnSettings,
};

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
    migrate_chat_survives_concurrent_writes,
    ending_connections_to_a_chat_is_told_once,
    renaming_a_chat_renames_its_connections,
    the_connection_comes_with_its_chats_setting,
    persists_across_reopening,
    reopening_without_close_keeps_data,
    concurrent_connects_leave_one_current_connection,
    concurrent_writes_do_not_fail,
    concurrent_writes_from_two_stores_do_not_fail,
    tables_live_in_the_test_database,
    spaces_of_the_same_number_never_mix,
    business_connection_record_replace_fetch,
    newer_business_connection_supersedes_older,
    older_business_connection_recorded_later_is_superseded,
    business_owners_are_independent,
    unknown_business_connections_are_remembered,
    business_chat_pauses_are_per_owner_and_chat,
    migrate_chat_leaves_business_rows,
    concurrent_business_records_leave_one_live_connection,
    upgrade_from_0001_keeps_data,
    handled_updates_are_claimed_finished_and_released,
    business_fetches_are_claimed_once,
    warns_count_up_to_the_limit_and_reset,
    warns_are_per_chat_and_user,
    remove_latest_warn_and_reset_warns,
    forged_warn_id_from_another_chat_removes_nothing,
    warn_settings_default_and_round_trip,
    unknown_warn_mode_reads_as_ban,
    concurrent_warns_reach_the_limit_exactly,
    concurrent_warn_removals_each_remove_one,
    action_log_is_newest_first_and_bounded,
    directory_learns_and_renames,
    username_moves_to_its_new_holder,
    username_lookup_ignores_case,
    migrate_chat_moves_moderation_records_on_conflict,
    migrate_chat_survives_concurrent_moderation_writes,
    filters_save_replace_list_count_delete,
    blacklist_adds_removes_and_acts,
    unknown_guard_actions_read_as_defaults,
    locks_default_and_round_trip,
    flood_settings_default_and_round_trip,
    flood_hits_count_streaks_and_windows,
    flood_window_is_bounded,
    flood_reset_starts_the_member_afresh,
    concurrent_flood_hits_from_two_stores_count_exactly,
    disabled_commands_and_their_deletion,
    guards_gather_everything_in_one_read,
    migrate_chat_moves_guards_on_conflict,
    guards_announcements_reach_other_stores,
);

fn chat(chat_id: i64, title: &str) -> ConnectedChat {
    ConnectedChat {
        space: Space::Chat(chat_id),
        title: title.to_owned(),
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

/// The chat ids of connections to chats (panics on any other space).
fn ids(chats: &[ConnectedChat]) -> Vec<i64> {
    chats.iter().map(|c| chat_id(c.space)).collect()
}

fn chat_id(space: Space) -> i64 {
    match space {
        Space::Chat(id) => id,
        Space::Business(_) => panic!("expected a chat, got {space:?}"),
    }
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
    // The same calls in a chat and a business account of the same number:
    // the second starts empty, whatever the first left.
    for space in [Space::Chat(-100), Space::Business(-100)] {
        notes_save_replace_get_list_delete_in(store.as_ref(), space).await;
    }
}

async fn notes_save_replace_get_list_delete_in(store: &dyn Store, space: Space) {
    assert_eq!(store.note(space, "rules").await.unwrap(), None);
    assert!(store.note_names(space).await.unwrap().is_empty());

    let bold = Note {
        name: "welcome".to_owned(),
        content: text("Hi all", r#"[{"type":"bold","offset":0,"length":2}]"#),
    };
    assert!(!store.save_note(space, &bold).await.unwrap(), "new note");
    assert_eq!(
        store.note(space, "welcome").await.unwrap(),
        Some(bold.clone())
    );

    let replaced = note("welcome", "Hello again");
    assert!(store.save_note(space, &replaced).await.unwrap(), "replaced");
    assert_eq!(store.note(space, "welcome").await.unwrap(), Some(replaced));

    // Sorted byte-wise by name, whatever the database's locale.
    for name in ["zeta", "alpha", "b_2", "b1", "beta", "_x", "9", "ä"] {
        assert!(!store.save_note(space, &note(name, name)).await.unwrap());
    }
    assert_eq!(
        store.note_names(space).await.unwrap(),
        [
            "9", "_x", "alpha", "b1", "b_2", "beta", "welcome", "zeta", "ä"
        ]
    );

    assert!(store.delete_note(space, "beta").await.unwrap());
    assert!(!store.delete_note(space, "beta").await.unwrap());
    assert!(!store.delete_note(space, "missing").await.unwrap());
    assert_eq!(store.note(space, "beta").await.unwrap(), None);
    assert_eq!(store.note_names(space).await.unwrap().len(), 8);
}

async fn notes_are_per_chat(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    store
        .save_note(Space::Chat(-1), &note("faq", "one"))
        .await
        .unwrap();
    assert!(
        !store
            .save_note(Space::Chat(-2), &note("faq", "two"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.note(Space::Chat(-1), "faq").await.unwrap(),
        Some(note("faq", "one"))
    );
    assert_eq!(
        store.note(Space::Chat(-2), "faq").await.unwrap(),
        Some(note("faq", "two"))
    );
    assert!(store.delete_note(Space::Chat(-1), "faq").await.unwrap());
    assert_eq!(
        store.note(Space::Chat(-2), "faq").await.unwrap(),
        Some(note("faq", "two"))
    );
    assert_eq!(
        store.note_names(Space::Chat(-1)).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(store.note_names(Space::Chat(-2)).await.unwrap(), ["faq"]);
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
    store.save_note(Space::Chat(group), &n).await.unwrap();
    assert_eq!(
        store.note(Space::Chat(group), "привет").await.unwrap(),
        Some(n)
    );
    store.set_allow_connect(group, false).await.unwrap();
    assert!(!store.allow_connect(group).await.unwrap());

    let reason = "спам 🚫 'quoted' \"double\" ; DROP TABLE warnings; --";
    let added = store
        .add_warn(group, user, i64::MIN, Some(reason), i64::MAX, u32::MAX)
        .await
        .unwrap();
    assert_eq!(added.count, 1);
    assert!(!added.limit_reached);
    assert_eq!(
        store.warns(group, user).await.unwrap(),
        [Warn {
            id: added.id,
            actor_id: i64::MIN,
            reason: Some(reason.to_owned()),
            at: i64::MAX,
        }]
    );
    assert_eq!(
        store.remove_warn(group, added.id).await.unwrap(),
        Some(user)
    );
    store
        .set_warn_mode(group, WarnMode::TempMute(u64::MAX))
        .await
        .unwrap();
    store.set_warn_limit(group, u32::MAX).await.unwrap();
    assert_eq!(
        store.warn_settings(group).await.unwrap(),
        WarnSettings {
            limit: i32::MAX as u32,
            mode: WarnMode::TempMute(i64::MAX as u64),
        },
        "beyond the columns' range: their largest values"
    );

    let logged = action(group, "tban", i64::MAX, title, i64::MAX);
    store.record_action(&logged).await.unwrap();
    assert_eq!(store.recent_actions(group, 5).await.unwrap(), [logged]);

    let member = KnownUser {
        id: i64::MAX,
        username: Some("Ünï_User".to_owned()),
        first_name: "Zoë 👋 «first»".to_owned(),
        last_name: Some("O'Brien; DROP TABLE known_users; --".to_owned()),
    };
    store.learn_user(group, &member, i64::MAX).await.unwrap();
    assert_eq!(
        store.known_user(group, i64::MAX).await.unwrap(),
        Some(member.clone())
    );
    assert_eq!(
        store.user_by_username(group, "üNÏ_uSER").await.unwrap(),
        Some(member)
    );
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
    store
        .save_note(Space::Chat(old), &note("a", "A"))
        .await
        .unwrap();
    store
        .save_note(Space::Chat(old), &note("b", "B"))
        .await
        .unwrap();
    store.set_rules(old, &text("Rules", "[]")).await.unwrap();
    // Records of unrelated chats stay put.
    store
        .save_note(Space::Chat(-6), &note("a", "six"))
        .await
        .unwrap();
    let first = store
        .add_warn(old, 7, 1, Some("spam"), 1_000, 3)
        .await
        .unwrap();
    let second = store.add_warn(old, 7, 1, None, 1_001, 3).await.unwrap();
    store.add_warn(old, 8, 1, None, 1_002, 3).await.unwrap();
    store.set_warn_limit(old, 5).await.unwrap();
    store
        .set_warn_mode(old, WarnMode::TempBan(3_600))
        .await
        .unwrap();
    let actions = [
        action(old, "warn", 7, "spam", 1_000),
        action(old, "ban", 9, "flood", 1_003),
    ];
    for logged in &actions {
        store.record_action(logged).await.unwrap();
    }
    let member = known("alice", 7);
    store.learn_user(old, &member, 1_000).await.unwrap();
    store
        .learn_user(-6, &known("alice", 9), 1_000)
        .await
        .unwrap();

    store.migrate_chat(old, new).await.unwrap();

    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(new, "Group"))
    );
    assert_eq!(
        ids_of(&store.warns(new, 7).await.unwrap()),
        [first.id, second.id]
    );
    assert_eq!(
        store.warns(new, 7).await.unwrap()[0].reason.as_deref(),
        Some("spam")
    );
    assert_eq!(store.warns(new, 8).await.unwrap().len(), 1);
    assert!(store.warns(old, 7).await.unwrap().is_empty());
    // The buttons of the old chat's warnings now work in the new one.
    assert_eq!(store.remove_warn(old, first.id).await.unwrap(), None);
    assert_eq!(store.remove_warn(new, first.id).await.unwrap(), Some(7));
    assert_eq!(
        store.warn_settings(new).await.unwrap(),
        WarnSettings {
            limit: 5,
            mode: WarnMode::TempBan(3_600)
        }
    );
    assert_eq!(
        store.warn_settings(old).await.unwrap(),
        WarnSettings::default()
    );
    let moved: Vec<ModAction> = actions
        .iter()
        .rev()
        .map(|logged| ModAction {
            chat_id: new,
            ..logged.clone()
        })
        .collect();
    assert_eq!(store.recent_actions(new, 10).await.unwrap(), moved);
    assert!(store.recent_actions(old, 10).await.unwrap().is_empty());
    assert_eq!(
        store.user_by_username(new, "alice").await.unwrap(),
        Some(member.clone())
    );
    assert_eq!(store.known_user(new, 7).await.unwrap(), Some(member));
    assert_eq!(store.known_user(old, 7).await.unwrap(), None);
    assert_eq!(store.user_by_username(old, "alice").await.unwrap(), None);
    assert_eq!(
        store.user_by_username(-6, "alice").await.unwrap(),
        Some(known("alice", 9)),
        "other chats' directories stay"
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
    assert_eq!(
        store.note_names(Space::Chat(new)).await.unwrap(),
        ["a", "b"]
    );
    assert_eq!(
        store.note(Space::Chat(new), "b").await.unwrap(),
        Some(note("b", "B"))
    );
    assert!(store.note_names(Space::Chat(old)).await.unwrap().is_empty());
    assert_eq!(
        store.note(Space::Chat(-6), "a").await.unwrap(),
        Some(note("a", "six"))
    );
    assert_eq!(store.rules(new).await.unwrap(), Some(text("Rules", "[]")));
    assert_eq!(store.rules(old).await.unwrap(), None);

    // Nothing is left under the old id, in any table.
    for table in [
        "current_connections",
        "connection_history",
        "chat_settings",
        "notes",
        "rules",
        "warnings",
        "warn_settings",
        "mod_actions",
        "known_users",
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
    store
        .save_note(Space::Chat(old), &note("shared", "old"))
        .await
        .unwrap();
    store
        .save_note(Space::Chat(old), &note("only_old", "old"))
        .await
        .unwrap();
    store
        .save_note(Space::Chat(new), &note("shared", "new"))
        .await
        .unwrap();
    store
        .save_note(Space::Chat(new), &note("only_new", "new"))
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
        store.note_names(Space::Chat(new)).await.unwrap(),
        ["only_new", "only_old", "shared"]
    );
    assert_eq!(
        store.note(Space::Chat(new), "shared").await.unwrap(),
        Some(note("shared", "new"))
    );
    assert_eq!(
        store.note(Space::Chat(new), "only_old").await.unwrap(),
        Some(note("only_old", "old"))
    );
    assert_eq!(
        store.rules(new).await.unwrap(),
        Some(text("new rules", "[]"))
    );
    assert!(store.note_names(Space::Chat(old)).await.unwrap().is_empty());
    assert_eq!(store.rules(old).await.unwrap(), None);
}

async fn migrate_chat_to_same_id_is_a_no_op(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    store.connect(1, &chat(-100, "A")).await.unwrap();
    store
        .save_note(Space::Chat(-100), &note("a", "A"))
        .await
        .unwrap();
    store.migrate_chat(-100, -100).await.unwrap();
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(-100, "A"))
    );
    assert_eq!(
        store.note(Space::Chat(-100), "a").await.unwrap(),
        Some(note("a", "A"))
    );
}

// --- persistence ---------------------------------------------------------

async fn write_sample(store: &dyn Store) {
    store.connect(1, &chat(-100, "A")).await.unwrap();
    store.connect(1, &chat(-200, "B")).await.unwrap();
    store.connect(2, &chat(-100, "A")).await.unwrap();
    store.disconnect(2).await.unwrap();
    store.set_allow_connect(-100, false).await.unwrap();
    store
        .save_note(Space::Chat(-100), &note("n", "body"))
        .await
        .unwrap();
    store.set_rules(-100, &text("r", "[]")).await.unwrap();
    store
        .add_warn(-100, 5, 1, Some("why"), 1_000, 3)
        .await
        .unwrap();
    store
        .set_warn_mode(-100, WarnMode::TempMute(60))
        .await
        .unwrap();
    store
        .record_action(&action(-100, "mute", 5, "why", 1_000))
        .await
        .unwrap();
    store
        .learn_user(-100, &known("Sample", 5), 1_000)
        .await
        .unwrap();
    store
        .save_filter(-100, "hello", &text("Hi!", "[]"))
        .await
        .unwrap();
    store.add_blacklist(-100, &names(&["spam"])).await.unwrap();
    store
        .set_blacklist_action(-100, GuardAction::TempBan(600))
        .await
        .unwrap();
    store.set_locks(-100, 0b101).await.unwrap();
    store
        .set_flood_settings(-100, &sample_flood())
        .await
        .unwrap();
    store
        .disable_commands(-100, &names(&["rules"]))
        .await
        .unwrap();
    store.set_disabled_delete(-100, true).await.unwrap();
    store.flood_hit(-100, 5, 1_000, Some(60_000)).await.unwrap();
}

fn sample_flood() -> FloodSettings {
    FloodSettings {
        consecutive: Some(5),
        timer: Some((10, 30)),
        action: GuardAction::Kick,
    }
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
        store.note(Space::Chat(-100), "n").await.unwrap(),
        Some(note("n", "body"))
    );
    assert_eq!(store.rules(-100).await.unwrap(), Some(text("r", "[]")));
    let warns = store.warns(-100, 5).await.unwrap();
    assert_eq!(warns.len(), 1);
    assert_eq!(
        (warns[0].actor_id, warns[0].reason.as_deref(), warns[0].at),
        (1, Some("why"), 1_000)
    );
    assert_eq!(
        store.warn_settings(-100).await.unwrap(),
        WarnSettings {
            limit: DEFAULT_WARN_LIMIT,
            mode: WarnMode::TempMute(60)
        }
    );
    assert_eq!(
        store.recent_actions(-100, 10).await.unwrap(),
        [action(-100, "mute", 5, "why", 1_000)]
    );
    assert_eq!(
        store.user_by_username(-100, "sample").await.unwrap(),
        Some(known("Sample", 5))
    );
    assert_eq!(
        store.guards(-100).await.unwrap(),
        GuardSet {
            filters: vec![("hello".to_owned(), text("Hi!", "[]"))],
            blacklist: names(&["spam"]),
            blacklist_action: GuardAction::TempBan(600),
            locks: 0b101,
            flood: sample_flood(),
            disabled: names(&["rules"]),
            disabled_delete: true,
        }
    );
    assert_eq!(
        store.flood_hit(-100, 5, 2_000, Some(60_000)).await.unwrap(),
        FloodCount {
            consecutive: 2,
            in_window: 2
        },
        "the flood counts survive a restart"
    );
    // Warning ids go on after a restart: none is used twice.
    let next = store.add_warn(-100, 5, 1, None, 1_001, 3).await.unwrap();
    assert!(next.id > warns[0].id);
    assert_eq!(next.count, 2);
    assert_eq!(store.remove_warn(-100, next.id).await.unwrap(), Some(5));
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
    assert!(chats.contains(&chat_id(current.space)));

    let history = store.recent_chats(user).await.unwrap();
    assert_eq!(history.len(), HISTORY_LIMIT);
    let distinct: HashSet<i64> = ids(&history).into_iter().collect();
    assert_eq!(distinct.len(), HISTORY_LIMIT, "no duplicates: {history:?}");
    assert!(history.iter().all(|c| chats.contains(&chat_id(c.space))));
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
            .save_note(Space::Chat(own), &note(&format!("n{round}"), "x"))
            .await
            .unwrap_or_else(|e| panic!("save_note failed: {e}"));
        store
            .set_rules(own, &text(&format!("r{round}"), "[]"))
            .await
            .unwrap();
        store.set_allow_connect(own, round % 2 == 0).await.unwrap();
        // Shared records everyone writes to.
        store
            .save_note(Space::Chat(-999), &note(&format!("u{user}"), "x"))
            .await
            .unwrap();
        store.set_rules(-999, &text("shared", "[]")).await.unwrap();
    }
    store.delete_note(Space::Chat(own), "n0").await.unwrap();
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
        store.note_names(Space::Chat(own)).await.unwrap(),
        ["n1", "n2", "n3", "n4"]
    );
    assert_eq!(store.rules(own).await.unwrap(), Some(text("r4", "[]")));
    assert!(store.allow_connect(own).await.unwrap());
    assert!(
        store
            .note(Space::Chat(-999), &format!("u{user}"))
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
                     ('current_connections', 'connection_history', 'chat_settings', 'notes', 'rules',
                      'business_connections', 'business_connection_misses', 'business_chat_pauses',
                      'warnings', 'warn_settings', 'mod_actions', 'known_users',
                      'filters', 'blacklist', 'disabled_commands', 'guard_settings',
                      'flood_streaks', 'flood_hits', '_sqlx_migrations')",
                    &[],
                )
                .await;
            assert_eq!(tables, 19);
        }
        Backend::Postgres => {
            let schema = db.schema.clone().unwrap();
            let in_schema = db
                .query_i64(
                    "SELECT COUNT(*) FROM information_schema.tables
                     WHERE table_schema = current_schema() AND table_name IN
                     ('current_connections', 'connection_history', 'chat_settings', 'notes', 'rules',
                      'business_connections', 'business_connection_misses', 'business_chat_pauses',
                      'warnings', 'warn_settings', 'mod_actions', 'known_users',
                      'filters', 'blacklist', 'disabled_commands', 'guard_settings',
                      'flood_streaks', 'flood_hits', '_sqlx_migrations')",
                    &[],
                )
                .await;
            assert_eq!(in_schema, 19);
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

// --- spaces --------------------------------------------------------------

/// A business account's records are keyed by its owner's user id, which can
/// be the very number of a chat: the kind keeps them apart everywhere.
async fn spaces_of_the_same_number_never_mix(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let (group, shop) = (Space::Chat(5), Space::Business(5));
    let in_shop = ConnectedChat {
        space: shop,
        title: "Shop".to_owned(),
    };

    store.save_note(group, &note("faq", "group")).await.unwrap();
    assert!(!store.save_note(shop, &note("faq", "shop")).await.unwrap());
    store.save_note(shop, &note("hours", "9-5")).await.unwrap();
    assert_eq!(
        store.note(group, "faq").await.unwrap(),
        Some(note("faq", "group"))
    );
    assert_eq!(
        store.note(shop, "faq").await.unwrap(),
        Some(note("faq", "shop"))
    );
    assert_eq!(store.note(group, "hours").await.unwrap(), None);
    assert_eq!(store.note_names(group).await.unwrap(), ["faq"]);
    assert_eq!(store.note_names(shop).await.unwrap(), ["faq", "hours"]);
    assert!(store.delete_note(shop, "faq").await.unwrap());
    assert_eq!(
        store.note(group, "faq").await.unwrap(),
        Some(note("faq", "group"))
    );

    // History: one entry per space, not per number.
    store.connect(1, &chat(5, "Group")).await.unwrap();
    store.connect(1, &in_shop).await.unwrap();
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(in_shop.clone())
    );
    assert_eq!(
        store.recent_chats(1).await.unwrap(),
        [in_shop.clone(), chat(5, "Group")]
    );
    store.connect(1, &chat(5, "Group renamed")).await.unwrap();
    assert_eq!(
        store.recent_chats(1).await.unwrap(),
        [chat(5, "Group renamed"), in_shop.clone()]
    );
    store.connect(1, &in_shop).await.unwrap();
    assert_eq!(store.disconnect(1).await.unwrap(), Some(in_shop.clone()));
    assert_eq!(
        store.recent_chats(1).await.unwrap(),
        [in_shop, chat(5, "Group renamed")]
    );
}

// --- Telegram Business ---------------------------------------------------

fn business(id: &str, owner_id: i64, date: i64) -> BusinessConnectionRecord {
    BusinessConnectionRecord {
        id: id.to_owned(),
        owner_id,
        user_chat_id: owner_id,
        rights_json: Some(r#"{"can_reply":true}"#.to_owned()),
        is_enabled: true,
        date,
    }
}

fn stored(connection: &BusinessConnectionRecord, superseded: bool) -> StoredBusinessConnection {
    StoredBusinessConnection {
        connection: connection.clone(),
        superseded,
    }
}

async fn business_connection_record_replace_fetch(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert_eq!(store.business_connection("abc").await.unwrap(), None);
    assert_eq!(store.owner_business_connection(10).await.unwrap(), None);

    let first = BusinessConnectionRecord {
        user_chat_id: 1_000_000_000_010,
        ..business("abc", 10, 1_700_000_000)
    };
    assert_eq!(
        store.record_business_connection(&first).await.unwrap(),
        BusinessRecorded::Current
    );
    assert_eq!(
        store.business_connection("abc").await.unwrap(),
        Some(stored(&first, false))
    );
    assert_eq!(
        store.owner_business_connection(10).await.unwrap(),
        Some(first.clone())
    );

    // Recorded again (disabled, rights gone): replaced, still current.
    let disabled = BusinessConnectionRecord {
        rights_json: None,
        is_enabled: false,
        ..first.clone()
    };
    assert_eq!(
        store.record_business_connection(&disabled).await.unwrap(),
        BusinessRecorded::Current
    );
    assert_eq!(
        store.business_connection("abc").await.unwrap(),
        Some(stored(&disabled, false))
    );
    assert_eq!(
        store.owner_business_connection(10).await.unwrap(),
        Some(disabled.clone()),
        "a disabled connection is still the owner's current one"
    );
    assert_eq!(store.business_connection("ABC").await.unwrap(), None);
    assert_eq!(store.owner_business_connection(11).await.unwrap(), None);
}

async fn newer_business_connection_supersedes_older(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    let old = business("old", 10, 100);
    let new = business("new", 10, 200);
    assert_eq!(
        store.record_business_connection(&old).await.unwrap(),
        BusinessRecorded::Current
    );
    assert_eq!(
        store.record_business_connection(&new).await.unwrap(),
        BusinessRecorded::Current
    );
    assert_eq!(
        store.business_connection("old").await.unwrap(),
        Some(stored(&old, true))
    );
    assert_eq!(
        store.business_connection("new").await.unwrap(),
        Some(stored(&new, false))
    );
    assert_eq!(
        store.owner_business_connection(10).await.unwrap(),
        Some(new.clone())
    );

    // The old id recorded again later, even claiming a later date: it stays
    // superseded and nothing changes.
    let old_again = BusinessConnectionRecord {
        is_enabled: false,
        date: 300,
        ..old.clone()
    };
    assert_eq!(
        store.record_business_connection(&old_again).await.unwrap(),
        BusinessRecorded::Superseded
    );
    assert_eq!(
        store.business_connection("old").await.unwrap(),
        Some(stored(&old, true))
    );
    assert_eq!(
        store.owner_business_connection(10).await.unwrap(),
        Some(new.clone())
    );

    // A tie of dates: the one recorded last wins.
    let tie = business("tie", 10, 200);
    assert_eq!(
        store.record_business_connection(&tie).await.unwrap(),
        BusinessRecorded::Current
    );
    assert_eq!(
        store.business_connection("new").await.unwrap(),
        Some(stored(&new, true))
    );
    assert_eq!(
        store.owner_business_connection(10).await.unwrap(),
        Some(tie)
    );
    let live = db
        .query_i64(
            "SELECT COUNT(*) FROM business_connections WHERE owner_id = $1 AND NOT superseded",
            &[10],
        )
        .await;
    assert_eq!(live, 1);
}

async fn older_business_connection_recorded_later_is_superseded(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let new = business("new", 10, 200);
    let old = business("old", 10, 100);
    store.record_business_connection(&new).await.unwrap();
    assert_eq!(
        store.record_business_connection(&old).await.unwrap(),
        BusinessRecorded::Superseded
    );
    // Known (so updates carrying it are recognised and ignored), but dead.
    assert_eq!(
        store.business_connection("old").await.unwrap(),
        Some(stored(&old, true))
    );
    assert_eq!(
        store.business_connection("new").await.unwrap(),
        Some(stored(&new, false))
    );
    assert_eq!(
        store.owner_business_connection(10).await.unwrap(),
        Some(new.clone())
    );
    // And it stays dead when recorded once more.
    assert_eq!(
        store.record_business_connection(&old).await.unwrap(),
        BusinessRecorded::Superseded
    );
    assert_eq!(
        store.owner_business_connection(10).await.unwrap(),
        Some(new)
    );
}

async fn business_owners_are_independent(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let a = business("a", 10, 200);
    let b = business("b", 11, 100);
    assert_eq!(
        store.record_business_connection(&a).await.unwrap(),
        BusinessRecorded::Current
    );
    assert_eq!(
        store.record_business_connection(&b).await.unwrap(),
        BusinessRecorded::Current,
        "another owner's newer connection does not count"
    );
    assert_eq!(
        store.owner_business_connection(10).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.owner_business_connection(11).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        store.business_connection("a").await.unwrap(),
        Some(stored(&a, false))
    );
}

async fn unknown_business_connections_are_remembered(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert_eq!(
        store.unknown_business_connection_since("x").await.unwrap(),
        None
    );
    store
        .remember_unknown_business_connection("x", 100)
        .await
        .unwrap();
    store
        .remember_unknown_business_connection("y", 150)
        .await
        .unwrap();
    assert_eq!(
        store.unknown_business_connection_since("x").await.unwrap(),
        Some(100)
    );
    store
        .remember_unknown_business_connection("x", 200)
        .await
        .unwrap();
    assert_eq!(
        store.unknown_business_connection_since("x").await.unwrap(),
        Some(200)
    );

    // Telegram describes it after all: the miss is forgotten.
    store
        .record_business_connection(&business("x", 10, 300))
        .await
        .unwrap();
    assert_eq!(
        store.unknown_business_connection_since("x").await.unwrap(),
        None
    );
    assert_eq!(
        store.unknown_business_connection_since("y").await.unwrap(),
        Some(150)
    );
}

async fn business_chat_pauses_are_per_owner_and_chat(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert!(!store.business_chat_paused(10, 5).await.unwrap());
    store.set_business_chat_paused(10, 5, true).await.unwrap();
    store.set_business_chat_paused(10, 5, true).await.unwrap();
    assert!(store.business_chat_paused(10, 5).await.unwrap());
    assert!(!store.business_chat_paused(10, 6).await.unwrap());
    assert!(!store.business_chat_paused(11, 5).await.unwrap());

    store.set_business_chat_paused(11, 5, true).await.unwrap();
    store.set_business_chat_paused(10, 5, false).await.unwrap();
    store.set_business_chat_paused(10, 6, false).await.unwrap();
    assert!(!store.business_chat_paused(10, 5).await.unwrap());
    assert!(store.business_chat_paused(11, 5).await.unwrap());
}

/// A group upgrade moves the chat's records; a business account whose owner
/// id is the same number keeps its own.
async fn migrate_chat_leaves_business_rows(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    let (old, new) = (-100, -1_001_234_567_890);
    let shop = ConnectedChat {
        space: Space::Business(old),
        title: "Shop".to_owned(),
    };
    store
        .save_note(Space::Chat(old), &note("faq", "group"))
        .await
        .unwrap();
    store
        .save_note(Space::Business(old), &note("faq", "shop"))
        .await
        .unwrap();
    store.connect(1, &chat(old, "Group")).await.unwrap();
    store.connect(1, &shop).await.unwrap();
    store.connect(2, &chat(old, "Group")).await.unwrap();
    store
        .set_business_chat_paused(old, old, true)
        .await
        .unwrap();
    let connection = BusinessConnectionRecord {
        user_chat_id: old,
        ..business("conn", old, 100)
    };
    store.record_business_connection(&connection).await.unwrap();

    store.migrate_chat(old, new).await.unwrap();

    assert_eq!(
        store.note(Space::Chat(new), "faq").await.unwrap(),
        Some(note("faq", "group"))
    );
    assert!(store.note_names(Space::Chat(old)).await.unwrap().is_empty());
    assert_eq!(
        store.note_names(Space::Business(old)).await.unwrap(),
        ["faq"]
    );
    assert!(
        store
            .note_names(Space::Business(new))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.note(Space::Business(old), "faq").await.unwrap(),
        Some(note("faq", "shop"))
    );
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(shop.clone())
    );
    assert_eq!(
        store.recent_chats(1).await.unwrap(),
        [shop, chat(new, "Group")]
    );
    assert_eq!(
        store.current_connection(2).await.unwrap(),
        Some(chat(new, "Group"))
    );
    assert!(store.business_chat_paused(old, old).await.unwrap());
    assert_eq!(
        store.business_connection("conn").await.unwrap(),
        Some(stored(&connection, false))
    );
    for table in ["current_connections", "connection_history", "notes"] {
        let left = db
            .query_i64(
                &format!("SELECT COUNT(*) FROM {table} WHERE space = 'business' AND chat_id = $1"),
                &[old],
            )
            .await;
        assert_eq!(left, 1, "{table} keeps its business row");
    }
}

/// Two stores (two bot replicas) record many connections of one owner at
/// once: exactly one stays live, one of the newest.
async fn concurrent_business_records_leave_one_live_connection(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let stores = [db.open().await, db.open().await];
    let owner = 77;
    // Dates repeat, so ties between replicas happen too.
    let records: Vec<_> = (0..40_i64)
        .map(|i| business(&format!("c{i}"), owner, 1_000 + i % 7))
        .collect();
    let tasks: Vec<_> = records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let store = Arc::clone(&stores[i % 2]);
            let record = record.clone();
            tokio::spawn(async move { store.record_business_connection(&record).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let live = db
        .query_i64(
            "SELECT COUNT(*) FROM business_connections WHERE owner_id = $1 AND NOT superseded",
            &[owner],
        )
        .await;
    assert_eq!(live, 1, "exactly one live connection");
    let stored_rows = db
        .query_i64(
            "SELECT COUNT(*) FROM business_connections WHERE owner_id = $1",
            &[owner],
        )
        .await;
    assert_eq!(stored_rows, 40, "every id is known");
    let current = stores[0]
        .owner_business_connection(owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.date, 1_006, "the live one is one of the newest");
    assert_eq!(
        stores[1].business_connection(&current.id).await.unwrap(),
        Some(stored(&current, false))
    );
}

// --- upgrades ------------------------------------------------------------

/// A database made by migration 0001 alone, with data in it, is upgraded by
/// opening the store (0002 onwards) and keeps every record.
async fn upgrade_from_0001_keeps_data(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // A migrator that knows only 0001, from a copy of the very file (the
    // store later checks it was applied unchanged).
    let dir = tempfile::tempdir().unwrap();
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(folder)
            .join("0001_initial.sql"),
        dir.path().join("0001_initial.sql"),
    )
    .unwrap();
    let only_0001 = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    assert_eq!(only_0001.iter().count(), 1);

    // The history's `seq` comes from each backend's own source, as 0001's
    // code wrote it.
    let history = match backend {
        Backend::Sqlite => {
            "INSERT INTO connection_history (user_id, chat_id, chat_title, seq) VALUES
             (1, -200, 'Other', 1), (1, -100, 'Group', 2), (2, -100, 'Group', 1)"
        }
        Backend::Postgres => {
            "INSERT INTO connection_history (user_id, chat_id, chat_title) VALUES
             (1, -200, 'Other'), (1, -100, 'Group'), (2, -100, 'Group')"
        }
    };
    let data = [
        "INSERT INTO current_connections (user_id, chat_id, chat_title) VALUES (1, -100, 'Group')",
        history,
        "INSERT INTO chat_settings (chat_id, allow_connect) VALUES (-100, FALSE)",
        r#"INSERT INTO notes (chat_id, name, text, entities) VALUES
           (-100, 'faq', 'Read this', '[{"type":"bold","offset":0,"length":4}]'),
           (-100, 'b', 'B', '[]'),
           (-200, 'faq', 'Other', '[]')"#,
        "INSERT INTO rules (chat_id, text, entities) VALUES (-100, 'Be nice', '[]')",
    ];
    match backend {
        Backend::Sqlite => {
            let options =
                <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&db.url)
                    .unwrap()
                    .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            only_0001.run(&pool).await.unwrap();
            for sql in data {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            only_0001.run(&pool).await.unwrap();
            for sql in data {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
    }
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM _sqlx_migrations", &[])
            .await,
        1
    );

    let store = db.open().await;
    assert!(
        db.query_i64("SELECT COUNT(*) FROM _sqlx_migrations", &[])
            .await
            > 1,
        "opening applied the later migrations"
    );
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(-100, "Group"))
    );
    assert_eq!(
        store.recent_chats(1).await.unwrap(),
        [chat(-100, "Group"), chat(-200, "Other")]
    );
    assert_eq!(ids(&store.recent_chats(2).await.unwrap()), [-100]);
    assert!(!store.allow_connect(-100).await.unwrap());
    assert_eq!(
        store.note(Space::Chat(-100), "faq").await.unwrap(),
        Some(Note {
            name: "faq".to_owned(),
            content: text("Read this", r#"[{"type":"bold","offset":0,"length":4}]"#),
        })
    );
    assert_eq!(
        store.note_names(Space::Chat(-100)).await.unwrap(),
        ["b", "faq"]
    );
    assert_eq!(
        store.note(Space::Chat(-200), "faq").await.unwrap(),
        Some(note("faq", "Other"))
    );
    assert!(
        store
            .note_names(Space::Business(-100))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.rules(-100).await.unwrap(),
        Some(text("Be nice", "[]"))
    );

    // The upgraded schema works as a new one does: history continues in
    // order, keyed by space; notes too; business tables exist.
    store.connect(1, &chat(-300, "Third")).await.unwrap();
    let shop = ConnectedChat {
        space: Space::Business(-100),
        title: "Shop".to_owned(),
    };
    store.connect(1, &shop).await.unwrap();
    assert_eq!(
        store.recent_chats(1).await.unwrap(),
        [
            shop,
            chat(-300, "Third"),
            chat(-100, "Group"),
            chat(-200, "Other")
        ]
    );
    assert!(
        !store
            .save_note(Space::Business(-100), &note("faq", "shop"))
            .await
            .unwrap()
    );
    assert!(
        store
            .save_note(Space::Chat(-100), &note("faq", "new"))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .record_business_connection(&business("c", 1, 1))
            .await
            .unwrap(),
        BusinessRecorded::Current
    );
    store.migrate_chat(-100, -101).await.unwrap();
    assert_eq!(
        store.note_names(Space::Chat(-101)).await.unwrap(),
        ["b", "faq"]
    );
    assert_eq!(
        store.note_names(Space::Business(-100)).await.unwrap(),
        ["faq"]
    );
}

// --- SQLite specifics ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_databases_work_and_are_private() {
    let a = SqlStore::open_sqlite("sqlite::memory:").await.unwrap();
    let b = SqlStore::open_sqlite("sqlite::memory:").await.unwrap();
    a.connect(1, &chat(-100, "A")).await.unwrap();
    a.save_note(Space::Chat(-100), &note("n", "x"))
        .await
        .unwrap();
    // Still there after other statements: the database lives with the store.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        a.current_connection(1).await.unwrap(),
        Some(chat(-100, "A"))
    );
    assert_eq!(a.note_names(Space::Chat(-100)).await.unwrap(), ["n"]);
    assert_eq!(b.current_connection(1).await.unwrap(), None);
    assert!(b.note_names(Space::Chat(-100)).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_creates_a_missing_file_with_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let url = format!("sqlite://{}", path.display());
    let store = SqlStore::open_sqlite(&url).await.unwrap();
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

async fn migrate_chat_survives_concurrent_writes(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    for round in 0..20_i64 {
        let (old, new) = (-100 - round, -1_000_000_000_000 - round);
        for k in 0..20 {
            store
                .save_note(Space::Chat(old), &note(&format!("seed{k}"), "s"))
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(
                async move { store.migrate_chat(old, new).await },
            ));
        }
        for k in 0..10 {
            // Writers still on the old id, and already on the new one, some
            // saving a name the move is carrying over.
            for (space, name) in [(old, format!("old{k}")), (new, format!("seed{k}"))] {
                let store = Arc::clone(&store);
                tasks.push(tokio::spawn(async move {
                    store
                        .save_note(Space::Chat(space), &note(&name, "w"))
                        .await
                        .map(|_| ())
                }));
            }
        }
        for task in tasks {
            task.await
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        // The upgrade's second service message runs the move again.
        store.migrate_chat(old, new).await.unwrap();

        let names = store.note_names(Space::Chat(new)).await.unwrap();
        assert_eq!(names.len(), 30, "round {round}: {names:?}");
        for k in 0..10 {
            // Saved on the new id during the move: the newer note wins.
            let saved = store
                .note(Space::Chat(new), &format!("seed{k}"))
                .await
                .unwrap();
            assert_eq!(saved, Some(note(&format!("seed{k}"), "w")), "round {round}");
        }
        assert!(
            store.note_names(Space::Chat(old)).await.unwrap().is_empty(),
            "round {round}"
        );
    }
}

async fn ending_connections_to_a_chat_is_told_once(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    store.connect(1, &chat(-10, "Team")).await.unwrap();
    store.connect(2, &chat(-10, "Team")).await.unwrap();
    store.connect(3, &chat(-20, "Other")).await.unwrap();
    assert_eq!(store.end_connections_to(-10).await.unwrap(), 2);
    assert_eq!(store.current_connection(1).await.unwrap(), None);
    assert_eq!(store.current_connection(2).await.unwrap(), None);
    assert_eq!(
        store.current_connection(3).await.unwrap(),
        Some(chat(-20, "Other"))
    );
    assert_eq!(
        store.take_ended_connection(1).await.unwrap(),
        Some(chat(-10, "Team"))
    );
    assert_eq!(store.take_ended_connection(1).await.unwrap(), None);
    assert_eq!(store.take_ended_connection(3).await.unwrap(), None);
    // A new connect makes the old ending moot.
    store.connect(2, &chat(-20, "Other")).await.unwrap();
    assert_eq!(store.take_ended_connection(2).await.unwrap(), None);
    // History is kept: the chats can still be reconnected (and rechecked).
    assert_eq!(store.recent_chats(1).await.unwrap(), [chat(-10, "Team")]);
}

async fn renaming_a_chat_renames_its_connections(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    store.connect(1, &chat(-10, "Old")).await.unwrap();
    store.connect(2, &chat(-10, "Old")).await.unwrap();
    store.connect(2, &chat(-20, "Other")).await.unwrap();
    store.rename_chat(-10, "New").await.unwrap();
    assert_eq!(
        store.current_connection(1).await.unwrap(),
        Some(chat(-10, "New"))
    );
    assert_eq!(
        store.recent_chats(2).await.unwrap(),
        [chat(-20, "Other"), chat(-10, "New")]
    );
}

async fn the_connection_comes_with_its_chats_setting(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert_eq!(store.current_connection_for_use(1).await.unwrap(), None);
    store.connect(1, &chat(-10, "Team")).await.unwrap();
    assert_eq!(
        store.current_connection_for_use(1).await.unwrap(),
        Some((chat(-10, "Team"), true))
    );
    store.set_allow_connect(-10, false).await.unwrap();
    assert_eq!(
        store.current_connection_for_use(1).await.unwrap(),
        Some((chat(-10, "Team"), false))
    );
    // A business account has no such setting, and no chat of the same
    // number lends it one.
    store.set_allow_connect(5, false).await.unwrap();
    let business = ConnectedChat {
        space: Space::Business(5),
        title: String::new(),
    };
    store.connect(2, &business).await.unwrap();
    assert_eq!(
        store.current_connection_for_use(2).await.unwrap(),
        Some((business, true))
    );
}

/// Every lookup on a per-update path is served by an index, so its cost does
/// not grow with the number of chats or users: each plan, with sequential
/// scans made as unattractive as PostgreSQL allows, uses an index.
#[tokio::test]
async fn per_update_lookups_use_indexes() {
    use sqlx::Connection;

    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let _store = db.open().await;
    let mut conn = sqlx::PgConnection::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    // The store's per-update queries, with literal arguments.
    let lookups = [
        "SELECT space, chat_id, chat_title FROM current_connections WHERE user_id = 1",
        "SELECT c.space, c.chat_id, c.chat_title, COALESCE(s.allow_connect, TRUE) \
         FROM current_connections c LEFT JOIN chat_settings s \
         ON c.space = 'chat' AND s.chat_id = c.chat_id WHERE c.user_id = 1",
        "SELECT user_id FROM current_connections WHERE space = 'chat' AND chat_id = -1",
        "SELECT space, chat_id, chat_title FROM connection_history WHERE user_id = 1 \
         ORDER BY seq DESC LIMIT 5",
        "SELECT user_id FROM ended_connections WHERE user_id = 1",
        "SELECT allow_connect FROM chat_settings WHERE chat_id = -1",
        "SELECT name, text, entities FROM notes WHERE space = 'chat' AND chat_id = -1 \
         AND name = 'x'",
        "SELECT name FROM notes WHERE space = 'chat' AND chat_id = -1 ORDER BY name",
        "SELECT text, entities FROM rules WHERE chat_id = -1",
        "SELECT superseded FROM business_connections WHERE id = 'x'",
        "SELECT id FROM business_connections WHERE owner_id = 1 AND NOT superseded",
        "SELECT since FROM business_connection_misses WHERE id = 'x'",
        "SELECT owner_id FROM business_chat_pauses WHERE owner_id = 1 AND chat_id = 2",
    ];
    let lookups = lookups
        .iter()
        .chain(MODERATION_LOOKUPS.iter())
        .chain(GUARD_LOOKUPS.iter())
        .chain(GUARD_UPSERTS.iter());
    for lookup in lookups {
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {lookup}"))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("EXPLAIN {lookup}: {e}"));
        let plan = plan.join("\n");
        assert!(
            plan.contains("Index") && !plan.contains("Seq Scan"),
            "{lookup}\n{plan}"
        );
    }
}

/// Each update acts once: a claim holds off others until its lease runs
/// out, a finished update stays handled, and a released one (failed on an
/// outage) is claimed again with its attempt counted.
async fn handled_updates_are_claimed_finished_and_released(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let owner = store.instance().to_owned();
    store
        .finish_updates(&[1, 2, 3], &owner, 1_000)
        .await
        .unwrap();
    assert_eq!(
        store.handled_updates_among(1, 10).await.unwrap().len(),
        3,
        "a batch is recorded"
    );
    assert_eq!(store.newest_recorded_update().await.unwrap(), Some(3));
    assert_eq!(
        store.claim_update(2, &owner, 2_000, 3_000).await.unwrap(),
        UpdateClaim::Handled
    );
    let first = store.claim_update(4, &owner, 2_000, 5_000).await.unwrap();
    assert_eq!(
        first,
        UpdateClaim::Claimed {
            attempts: 0,
            first_claimed_at: 2_000
        }
    );
    // Another replica, before the lease ran out, then after.
    assert_eq!(
        store.claim_update(4, "other", 4_000, 9_000).await.unwrap(),
        UpdateClaim::Running
    );
    assert!(matches!(
        store.claim_update(4, "other", 6_000, 9_000).await.unwrap(),
        UpdateClaim::Claimed {
            attempts: 0,
            first_claimed_at: 2_000
        }
    ));
    // Failed on an outage: released, and counted.
    store.release_update(4, "other", true).await.unwrap();
    assert_eq!(
        store.claim_update(4, &owner, 6_001, 9_000).await.unwrap(),
        UpdateClaim::Claimed {
            attempts: 1,
            first_claimed_at: 2_000
        }
    );
    store.finish_updates(&[4], &owner, 6_002).await.unwrap();
    assert_eq!(
        store
            .claim_update(4, "other", 99_000, 100_000)
            .await
            .unwrap(),
        UpdateClaim::Handled
    );
    assert_eq!(store.prune_handled_updates(2_000).await.unwrap(), 3);
    assert_eq!(store.handled_updates_among(1, 10).await.unwrap(), vec![4]);
}

/// One castellan at a time fetches an unknown business connection; a claim
/// that ran out (its castellan died) is taken over.
async fn business_fetches_are_claimed_once(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert!(
        store
            .claim_business_fetch("b1", 1_000, 2_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_business_fetch("b1", 1_500, 2_500)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_business_fetch("b1", 2_001, 3_000)
            .await
            .unwrap()
    );
    store.release_business_fetch("b1").await.unwrap();
    assert!(
        store
            .claim_business_fetch("b1", 2_002, 3_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_business_fetch("b2", 2_002, 3_000)
            .await
            .unwrap()
    );
}

// --- moderation ----------------------------------------------------------

/// An action of admin 1; a temporary one (`t…`) ends an hour after `at`.
fn action(chat_id: i64, kind: &str, target_id: i64, reason: &str, at: i64) -> ModAction {
    ModAction {
        chat_id,
        actor_id: 1,
        action: kind.to_owned(),
        target_id,
        reason: Some(reason.to_owned()),
        until: kind.starts_with('t').then_some(at.saturating_add(3_600)),
        via_connection: at % 2 == 1,
        at,
    }
}

fn known(username: &str, id: i64) -> KnownUser {
    KnownUser {
        id,
        username: Some(username.to_owned()),
        first_name: format!("User {id}"),
        last_name: None,
    }
}

fn ids_of(warns: &[Warn]) -> Vec<i64> {
    warns.iter().map(|warn| warn.id).collect()
}

/// The moderation commands' lookups, with literal arguments (the store's
/// SQL as each backend runs it; `$N` become values).
const MODERATION_LOOKUPS: [&str; 14] = [
    "SELECT COUNT(*) FROM warnings WHERE chat_id = -1 AND user_id = 1",
    "SELECT id, actor_id, reason, created_at FROM warnings \
     WHERE chat_id = -1 AND user_id = 1 ORDER BY id",
    "DELETE FROM warnings WHERE id = ( \
     SELECT MAX(id) FROM warnings WHERE chat_id = -1 AND user_id = 1)",
    "SELECT user_id FROM warnings WHERE id = 1 AND chat_id = -1",
    "DELETE FROM warnings WHERE id = 1 AND chat_id = -1",
    "DELETE FROM warnings WHERE chat_id = -1 AND user_id = 1",
    "SELECT warn_limit, mode, seconds FROM warn_settings WHERE chat_id = -1",
    "SELECT chat_id, actor_id, action, target_id, reason, until, via_connection, at \
     FROM mod_actions WHERE chat_id = -1 ORDER BY id DESC LIMIT 20",
    "DELETE FROM mod_actions WHERE chat_id = -1 AND id <= ( \
     SELECT id FROM mod_actions WHERE chat_id = -1 ORDER BY id DESC LIMIT 1 OFFSET 1000)",
    "UPDATE known_users SET username = NULL, username_lower = NULL \
     WHERE chat_id = -1 AND username_lower = 'x' AND user_id <> 1",
    "SELECT user_id, username, first_name, last_name FROM known_users \
     WHERE chat_id = -1 AND username_lower = 'x'",
    "SELECT user_id, username, first_name, last_name FROM known_users \
     WHERE chat_id = -1 AND user_id = 1",
    "UPDATE warnings SET chat_id = -2 WHERE chat_id = -1",
    "UPDATE mod_actions SET chat_id = -2 WHERE chat_id = -1",
];

/// SQLite serves the moderation and guard lookups from indexes too: every
/// table in each plan is searched (never scanned), and nothing is sorted
/// apart.
#[tokio::test]
async fn sqlite_moderation_lookups_use_indexes() {
    use sqlx::Connection;

    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let _store = db.open().await;
    let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    for lookup in MODERATION_LOOKUPS.iter().chain(GUARD_LOOKUPS.iter()) {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {lookup}"))
                .fetch_all(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("EXPLAIN QUERY PLAN {lookup}: {e}"));
        let plan: Vec<String> = plan.into_iter().map(|(_, _, _, detail)| detail).collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains("USING")
                && !plan.lines().any(|line| line.starts_with("SCAN"))
                && !plan.contains("TEMP B-TREE"),
            "{lookup}\n{plan}"
        );
    }
}

async fn warns_count_up_to_the_limit_and_reset(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    let (group, user) = (-100, 7);
    assert!(store.warns(group, user).await.unwrap().is_empty());

    let first = store
        .add_warn(group, user, 1, Some("spam"), 1_000, 3)
        .await
        .unwrap();
    assert_eq!((first.count, first.limit_reached), (1, false));
    let second = store
        .add_warn(group, user, 2, None, 1_001, 3)
        .await
        .unwrap();
    assert_eq!((second.count, second.limit_reached), (2, false));
    assert!(second.id > first.id);
    assert_eq!(
        store.warns(group, user).await.unwrap(),
        [
            Warn {
                id: first.id,
                actor_id: 1,
                reason: Some("spam".to_owned()),
                at: 1_000,
            },
            Warn {
                id: second.id,
                actor_id: 2,
                reason: None,
                at: 1_001,
            },
        ]
    );

    let third = store
        .add_warn(group, user, 1, Some("again"), 1_002, 3)
        .await
        .unwrap();
    assert_eq!(
        third,
        WarnAdded {
            id: third.id,
            count: 3,
            limit_reached: true
        }
    );
    assert!(third.id > second.id);
    assert!(store.warns(group, user).await.unwrap().is_empty());
    let rows = db
        .query_i64(
            "SELECT COUNT(*) FROM warnings WHERE chat_id = $1 AND user_id = $2",
            &[group, user],
        )
        .await;
    assert_eq!(rows, 0, "removed from the table");

    // Counting starts again.
    let next = store
        .add_warn(group, user, 1, None, 1_003, 3)
        .await
        .unwrap();
    assert_eq!((next.count, next.limit_reached), (1, false));
    store
        .add_warn(group, user, 1, None, 1_004, 3)
        .await
        .unwrap();
    // A limit lowered below the count is reached by the next warning.
    let over = store
        .add_warn(group, user, 1, None, 1_005, 2)
        .await
        .unwrap();
    assert_eq!((over.count, over.limit_reached), (3, true));
    // Limit 1: every warning reaches it; 0 counts as 1.
    for limit in [1, 0] {
        let warned = store
            .add_warn(group, user, 1, None, 1_006, limit)
            .await
            .unwrap();
        assert_eq!((warned.count, warned.limit_reached), (1, true));
    }
    assert!(store.warns(group, user).await.unwrap().is_empty());
}

async fn warns_are_per_chat_and_user(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    store.add_warn(-1, 7, 1, None, 1, 3).await.unwrap();
    store.add_warn(-1, 7, 1, None, 2, 3).await.unwrap();
    let other_user = store.add_warn(-1, 8, 1, None, 3, 3).await.unwrap();
    let other_chat = store.add_warn(-2, 7, 1, None, 4, 3).await.unwrap();
    // A business account's owner id may be the chat's number: unrelated.
    assert_eq!(other_user.count, 1);
    assert_eq!(other_chat.count, 1);

    let reached = store.add_warn(-1, 7, 1, None, 5, 3).await.unwrap();
    assert!(reached.limit_reached);
    assert!(store.warns(-1, 7).await.unwrap().is_empty());
    assert_eq!(ids_of(&store.warns(-1, 8).await.unwrap()), [other_user.id]);
    assert_eq!(ids_of(&store.warns(-2, 7).await.unwrap()), [other_chat.id]);
}

async fn remove_latest_warn_and_reset_warns(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let (group, user) = (-100, 7);
    assert!(!store.remove_latest_warn(group, user).await.unwrap());
    assert_eq!(store.reset_warns(group, user).await.unwrap(), 0);

    let bystander = store.add_warn(group, 8, 1, None, 1, 10).await.unwrap();
    let mut added = Vec::new();
    for at in 1..=3 {
        added.push(store.add_warn(group, user, 1, None, at, 10).await.unwrap());
    }
    assert!(store.remove_latest_warn(group, user).await.unwrap());
    assert_eq!(
        ids_of(&store.warns(group, user).await.unwrap()),
        [added[0].id, added[1].id]
    );
    let again = store.add_warn(group, user, 1, None, 4, 10).await.unwrap();
    assert_eq!(again.count, 3);
    assert!(again.id > added[2].id, "ids are never reused");
    assert_eq!(
        ids_of(&store.warns(group, user).await.unwrap()),
        [added[0].id, added[1].id, again.id]
    );

    assert_eq!(store.reset_warns(group, user).await.unwrap(), 3);
    assert!(store.warns(group, user).await.unwrap().is_empty());
    assert_eq!(store.reset_warns(group, user).await.unwrap(), 0);
    assert!(!store.remove_latest_warn(group, user).await.unwrap());
    assert_eq!(
        ids_of(&store.warns(group, 8).await.unwrap()),
        [bystander.id],
        "other users keep theirs"
    );
}

async fn forged_warn_id_from_another_chat_removes_nothing(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let here = store.add_warn(-1, 7, 1, None, 1, 3).await.unwrap();
    let there = store.add_warn(-2, 7, 1, None, 1, 3).await.unwrap();

    assert_eq!(store.remove_warn(-2, here.id).await.unwrap(), None);
    assert_eq!(store.remove_warn(-1, there.id).await.unwrap(), None);
    assert_eq!(store.remove_warn(-1, i64::MAX).await.unwrap(), None);
    assert_eq!(ids_of(&store.warns(-1, 7).await.unwrap()), [here.id]);
    assert_eq!(ids_of(&store.warns(-2, 7).await.unwrap()), [there.id]);

    assert_eq!(store.remove_warn(-1, here.id).await.unwrap(), Some(7));
    assert_eq!(store.remove_warn(-1, here.id).await.unwrap(), None);
    assert!(store.warns(-1, 7).await.unwrap().is_empty());
    assert_eq!(ids_of(&store.warns(-2, 7).await.unwrap()), [there.id]);

    // A button of a warning removed by reaching the limit does nothing.
    let stale = store.add_warn(-1, 9, 1, None, 1, 2).await.unwrap();
    assert!(
        store
            .add_warn(-1, 9, 1, None, 2, 2)
            .await
            .unwrap()
            .limit_reached
    );
    assert_eq!(store.remove_warn(-1, stale.id).await.unwrap(), None);
}

async fn warn_settings_default_and_round_trip(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert_eq!(DEFAULT_WARN_LIMIT, 3);
    assert_eq!(
        WarnSettings::default(),
        WarnSettings {
            limit: 3,
            mode: WarnMode::Ban
        }
    );
    assert_eq!(
        store.warn_settings(-100).await.unwrap(),
        WarnSettings::default()
    );

    // A first setting keeps the other's default.
    store
        .set_warn_mode(-100, WarnMode::TempBan(86_400))
        .await
        .unwrap();
    assert_eq!(
        store.warn_settings(-100).await.unwrap(),
        WarnSettings {
            limit: 3,
            mode: WarnMode::TempBan(86_400)
        }
    );
    store.set_warn_limit(-100, 5).await.unwrap();
    for mode in [
        WarnMode::TempBan(86_400),
        WarnMode::Kick,
        WarnMode::Mute,
        WarnMode::TempMute(600),
        WarnMode::TempBan(0),
        WarnMode::Ban,
        WarnMode::TempMute(30),
    ] {
        store.set_warn_mode(-100, mode).await.unwrap();
        assert_eq!(
            store.warn_settings(-100).await.unwrap(),
            WarnSettings { limit: 5, mode },
            "the limit stays"
        );
    }

    store.set_warn_limit(-200, 4).await.unwrap();
    assert_eq!(
        store.warn_settings(-200).await.unwrap(),
        WarnSettings {
            limit: 4,
            mode: WarnMode::Ban
        }
    );
    store.set_warn_limit(-200, 0).await.unwrap();
    assert_eq!(store.warn_settings(-200).await.unwrap().limit, 1);
    assert_eq!(
        store.warn_settings(-100).await.unwrap(),
        WarnSettings {
            limit: 5,
            mode: WarnMode::TempMute(30)
        }
    );
    assert_eq!(
        store.warn_settings(-300).await.unwrap(),
        WarnSettings::default()
    );
}

/// A mode a newer castellan wrote, or a temporary one without a length,
/// reads as a ban (and the limit stays).
async fn unknown_warn_mode_reads_as_ban(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    store.set_warn_limit(-100, 4).await.unwrap();
    for (mode, seconds) in [("future", "60"), ("tban", "NULL"), ("tmute", "-5")] {
        db.query_i64(
            &format!(
                "UPDATE warn_settings SET mode = '{mode}', seconds = {seconds}
                 WHERE chat_id = $1 RETURNING chat_id"
            ),
            &[-100],
        )
        .await;
        assert_eq!(
            store.warn_settings(-100).await.unwrap(),
            WarnSettings {
                limit: 4,
                mode: WarnMode::Ban
            },
            "{mode} {seconds}"
        );
    }
}

/// Two stores (two replicas) warn one user at once: each warning counts
/// every earlier one, so the limit is reached exactly once per `limit`
/// warnings.
async fn concurrent_warns_reach_the_limit_exactly(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let stores = [db.open().await, db.open().await];
    let (warns, limit) = (40_u32, 5_u32);
    let tasks: Vec<_> = (0..warns)
        .map(|i| {
            let store = Arc::clone(&stores[(i % 2) as usize]);
            tokio::spawn(async move { store.add_warn(-100, 7, 1, None, 1, limit).await })
        })
        .collect();
    let mut added = Vec::new();
    for task in tasks {
        added.push(task.await.unwrap().unwrap());
    }
    let mut counts: Vec<u32> = added.iter().map(|warned| warned.count).collect();
    counts.sort_unstable();
    let expected: Vec<u32> = (1..=limit)
        .flat_map(|count| std::iter::repeat_n(count, (warns / limit) as usize))
        .collect();
    assert_eq!(counts, expected);
    assert!(
        added
            .iter()
            .all(|warned| warned.limit_reached == (warned.count == limit))
    );
    let distinct: HashSet<i64> = added.iter().map(|warned| warned.id).collect();
    assert_eq!(distinct.len(), warns as usize);
    assert!(stores[0].warns(-100, 7).await.unwrap().is_empty());
}

async fn concurrent_warn_removals_each_remove_one(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let stores = [db.open().await, db.open().await];
    for at in 0..12 {
        stores[0].add_warn(-100, 7, 1, None, at, 100).await.unwrap();
    }
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            tokio::spawn(async move { store.remove_latest_warn(-100, 7).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().unwrap(), "each removed one");
    }
    let left = stores[1].warns(-100, 7).await.unwrap();
    assert_eq!(
        left.iter().map(|warn| warn.at).collect::<Vec<_>>(),
        [0, 1],
        "the oldest two are left"
    );
}

async fn action_log_is_newest_first_and_bounded(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    assert!(store.recent_actions(-100, 10).await.unwrap().is_empty());
    let logged = [
        action(-100, "warn", 7, "spam", 1_000),
        action(-100, "tban", 7, "spam again", 1_001),
        ModAction {
            reason: None,
            via_connection: true,
            ..action(-100, "unban", 7, "", 1_002)
        },
    ];
    for entry in &logged {
        store.record_action(entry).await.unwrap();
    }
    assert_eq!(logged[1].until, Some(4_601));
    store
        .record_action(&action(-200, "kick", 8, "elsewhere", 1_003))
        .await
        .unwrap();
    let newest_first: Vec<ModAction> = logged.iter().rev().cloned().collect();
    assert_eq!(store.recent_actions(-100, 10).await.unwrap(), newest_first);
    assert_eq!(
        store.recent_actions(-100, 2).await.unwrap(),
        newest_first[..2]
    );
    assert!(store.recent_actions(-100, 0).await.unwrap().is_empty());
    assert_eq!(
        store.recent_actions(-200, 10).await.unwrap(),
        [action(-200, "kick", 8, "elsewhere", 1_003)]
    );

    // Beyond the bound the oldest go; all in the same second, so recording
    // order decides.
    assert_eq!(ACTION_LOG_LIMIT, 1000);
    let extra = 5_i64;
    let total = i64::from(ACTION_LOG_LIMIT) + extra;
    for target in 0..total {
        store
            .record_action(&action(-300, "kick", target, "flood", 5_000))
            .await
            .unwrap();
    }
    let rows = db
        .query_i64(
            "SELECT COUNT(*) FROM mod_actions WHERE chat_id = $1",
            &[-300],
        )
        .await;
    assert_eq!(rows, i64::from(ACTION_LOG_LIMIT), "trimmed in the table");
    let kept = store.recent_actions(-300, u32::MAX).await.unwrap();
    assert_eq!(kept.len(), ACTION_LOG_LIMIT as usize);
    assert_eq!(kept[0].target_id, total - 1);
    assert_eq!(kept[kept.len() - 1].target_id, extra);
    assert_eq!(
        store.recent_actions(-100, 10).await.unwrap(),
        newest_first,
        "other chats' logs are untouched"
    );
}

async fn directory_learns_and_renames(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    assert_eq!(store.known_user(-100, 7).await.unwrap(), None);
    assert_eq!(store.user_by_username(-100, "alice").await.unwrap(), None);

    let alice = KnownUser {
        id: 7,
        username: Some("Alice".to_owned()),
        first_name: "Alice".to_owned(),
        last_name: Some("Smith".to_owned()),
    };
    store.learn_user(-100, &alice, 1_000).await.unwrap();
    store.learn_user(-100, &alice, 1_001).await.unwrap();
    assert_eq!(
        store.known_user(-100, 7).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.user_by_username(-100, "Alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.known_user(-200, 7).await.unwrap(), None);
    assert_eq!(store.user_by_username(-200, "alice").await.unwrap(), None);

    // New names replace the old ones; the old username finds nobody.
    let renamed = KnownUser {
        id: 7,
        username: Some("alice_b".to_owned()),
        first_name: "Alicia".to_owned(),
        last_name: None,
    };
    store.learn_user(-100, &renamed, 1_002).await.unwrap();
    assert_eq!(
        store.known_user(-100, 7).await.unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(store.user_by_username(-100, "alice").await.unwrap(), None);
    assert_eq!(
        store.user_by_username(-100, "ALICE_B").await.unwrap(),
        Some(renamed.clone())
    );

    // No username any more (an empty one is none).
    let anonymous = KnownUser {
        username: None,
        ..renamed.clone()
    };
    store.learn_user(-100, &anonymous, 1_003).await.unwrap();
    assert_eq!(
        store.known_user(-100, 7).await.unwrap(),
        Some(anonymous.clone())
    );
    assert_eq!(store.user_by_username(-100, "alice_b").await.unwrap(), None);
    store
        .learn_user(
            -100,
            &KnownUser {
                username: Some(String::new()),
                ..known("x", 8)
            },
            1_004,
        )
        .await
        .unwrap();
    store
        .learn_user(
            -100,
            &KnownUser {
                username: Some(String::new()),
                ..known("x", 9)
            },
            1_004,
        )
        .await
        .unwrap();
    assert_eq!(
        store.known_user(-100, 9).await.unwrap().unwrap().username,
        None
    );
    assert_eq!(store.user_by_username(-100, "").await.unwrap(), None);

    let rows = db
        .query_i64(
            "SELECT COUNT(*) FROM known_users WHERE chat_id = $1",
            &[-100],
        )
        .await;
    assert_eq!(rows, 3, "one row per member");
}

/// Usernames are unique at any time: one taken by another member of the
/// chat leaves its earlier holder (in that chat only).
async fn username_moves_to_its_new_holder(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    store
        .learn_user(-100, &known("alice", 7), 1_000)
        .await
        .unwrap();
    store
        .learn_user(-200, &known("alice", 7), 1_000)
        .await
        .unwrap();
    store
        .learn_user(-100, &known("ALICE", 8), 1_001)
        .await
        .unwrap();
    assert_eq!(
        store.user_by_username(-100, "alice").await.unwrap(),
        Some(known("ALICE", 8))
    );
    assert_eq!(
        store.known_user(-100, 7).await.unwrap(),
        Some(KnownUser {
            username: None,
            ..known("alice", 7)
        }),
        "the earlier holder is still known, without it"
    );
    assert_eq!(
        store.user_by_username(-200, "alice").await.unwrap(),
        Some(known("alice", 7)),
        "other chats keep theirs"
    );

    // And back; then two members swap theirs.
    store
        .learn_user(-100, &known("alice", 7), 1_002)
        .await
        .unwrap();
    assert_eq!(
        store.user_by_username(-100, "alice").await.unwrap(),
        Some(known("alice", 7))
    );
    assert_eq!(
        store.known_user(-100, 8).await.unwrap().unwrap().username,
        None
    );
    store
        .learn_user(-100, &known("bob", 8), 1_003)
        .await
        .unwrap();
    store
        .learn_user(-100, &known("bob", 7), 1_004)
        .await
        .unwrap();
    store
        .learn_user(-100, &known("alice", 8), 1_004)
        .await
        .unwrap();
    assert_eq!(
        store.user_by_username(-100, "bob").await.unwrap(),
        Some(known("bob", 7))
    );
    assert_eq!(
        store.user_by_username(-100, "alice").await.unwrap(),
        Some(known("alice", 8))
    );
    let holders = db
        .query_i64(
            "SELECT COUNT(*) FROM known_users WHERE chat_id = $1 AND username IS NOT NULL",
            &[-100],
        )
        .await;
    assert_eq!(holders, 2);
}

async fn username_lookup_ignores_case(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let member = known("MiXeD_Case99", 7);
    store.learn_user(-100, &member, 1).await.unwrap();
    for asked in [
        "mixed_case99",
        "MIXED_CASE99",
        "MiXeD_Case99",
        "mIxEd_cAsE99",
    ] {
        assert_eq!(
            store.user_by_username(-100, asked).await.unwrap(),
            Some(member.clone()),
            "{asked}"
        );
    }
    for asked in ["mixed_case9", "mixed_case99_", "", "@mixed_case99"] {
        assert_eq!(
            store.user_by_username(-100, asked).await.unwrap(),
            None,
            "{asked}"
        );
    }
    // Lower-cased by castellan, so beyond ASCII too, on either backend.
    let umlaut = known("ÄrgerÖ", 8);
    store.learn_user(-100, &umlaut, 1).await.unwrap();
    assert_eq!(
        store.user_by_username(-100, "äRGERö").await.unwrap(),
        Some(umlaut)
    );
}

async fn migrate_chat_moves_moderation_records_on_conflict(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    let (old, new) = (-100, -1_000_000_000_100);
    // Warnings under both ids all happened: they are merged, in order.
    let old_first = store.add_warn(old, 7, 1, None, 1, 10).await.unwrap();
    let new_first = store.add_warn(new, 7, 1, None, 2, 10).await.unwrap();
    let old_second = store.add_warn(old, 7, 1, None, 3, 10).await.unwrap();
    store.set_warn_limit(old, 5).await.unwrap();
    store.set_warn_mode(old, WarnMode::Kick).await.unwrap();
    store.set_warn_mode(new, WarnMode::Mute).await.unwrap();
    let logged = [
        action(old, "warn", 7, "a", 1),
        action(new, "warn", 7, "b", 2),
        action(old, "mute", 7, "c", 3),
    ];
    for entry in &logged {
        store.record_action(entry).await.unwrap();
    }
    let old_seven = KnownUser {
        first_name: "Old seven".to_owned(),
        ..known("alice", 7)
    };
    let new_seven = KnownUser {
        first_name: "New seven".to_owned(),
        ..known("alice7", 7)
    };
    store.learn_user(old, &old_seven, 1).await.unwrap();
    store.learn_user(old, &known("bob", 8), 1).await.unwrap();
    store.learn_user(new, &new_seven, 2).await.unwrap();
    store.learn_user(new, &known("bob", 9), 2).await.unwrap();

    store.migrate_chat(old, new).await.unwrap();

    assert_eq!(
        ids_of(&store.warns(new, 7).await.unwrap()),
        [old_first.id, new_first.id, old_second.id]
    );
    // Settings: the new chat's win.
    assert_eq!(
        store.warn_settings(new).await.unwrap(),
        WarnSettings {
            limit: DEFAULT_WARN_LIMIT,
            mode: WarnMode::Mute
        }
    );
    // Beyond the limit after the merge: the next warning reaches it.
    let next = store.add_warn(new, 7, 1, None, 4, 3).await.unwrap();
    assert_eq!((next.count, next.limit_reached), (4, true));
    let merged: Vec<ModAction> = logged
        .iter()
        .rev()
        .map(|entry| ModAction {
            chat_id: new,
            ..entry.clone()
        })
        .collect();
    assert_eq!(store.recent_actions(new, 10).await.unwrap(), merged);
    // The directory: a member known in the new chat keeps that row; a
    // username held there stays with its holder, and the member moving in
    // comes without it.
    assert_eq!(
        store.known_user(new, 7).await.unwrap(),
        Some(new_seven.clone())
    );
    assert_eq!(store.user_by_username(new, "alice").await.unwrap(), None);
    assert_eq!(
        store.user_by_username(new, "alice7").await.unwrap(),
        Some(new_seven)
    );
    assert_eq!(
        store.user_by_username(new, "bob").await.unwrap(),
        Some(known("bob", 9))
    );
    assert_eq!(
        store.known_user(new, 8).await.unwrap(),
        Some(KnownUser {
            username: None,
            ..known("bob", 8)
        })
    );
    for table in ["warnings", "warn_settings", "mod_actions", "known_users"] {
        let left = db
            .query_i64(
                &format!("SELECT COUNT(*) FROM {table} WHERE chat_id = $1"),
                &[old],
            )
            .await;
        assert_eq!(left, 0, "{table} still has rows of the old chat id");
    }
}

/// Moderation writes under both ids while a group's records move: nothing
/// fails, and after the upgrade's second message nothing is left behind.
async fn migrate_chat_survives_concurrent_moderation_writes(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    for round in 0..10_i64 {
        let (old, new) = (-100 - round, -1_000_000_000_000 - round);
        store.set_warn_limit(old, 7).await.unwrap();
        for user in 0..10 {
            store.add_warn(old, user, 1, None, 1, 100).await.unwrap();
            store
                .learn_user(old, &known(&format!("u{user}"), user), 1)
                .await
                .unwrap();
            store
                .record_action(&action(old, "warn", user, "seed", 1))
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(
                async move { store.migrate_chat(old, new).await },
            ));
        }
        {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                store.set_warn_mode(new, WarnMode::Kick).await
            }));
        }
        for user in 0..10 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                for chat in [old, new] {
                    store.add_warn(chat, user, 1, None, 2, 100).await?;
                    store
                        .record_action(&action(chat, "warn", user, "w", 2))
                        .await?;
                }
                // A member of the new chat takes the moving member's
                // username; the moving member is seen renamed in the old.
                store
                    .learn_user(new, &known(&format!("u{user}"), user + 100), 2)
                    .await?;
                store
                    .learn_user(old, &known(&format!("v{user}"), user), 2)
                    .await
            }));
        }
        for task in tasks {
            task.await
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        store.migrate_chat(old, new).await.unwrap();

        for user in 0..10 {
            assert_eq!(
                store.warns(new, user).await.unwrap().len(),
                3,
                "round {round}"
            );
            assert_eq!(
                store
                    .user_by_username(new, &format!("u{user}"))
                    .await
                    .unwrap()
                    .map(|member| member.id),
                Some(user + 100),
                "round {round}"
            );
            assert!(store.known_user(new, user).await.unwrap().is_some());
        }
        assert_eq!(
            store.recent_actions(new, 100).await.unwrap().len(),
            30,
            "round {round}"
        );
        assert_eq!(store.warn_settings(new).await.unwrap().mode, WarnMode::Kick);
        for table in ["warnings", "warn_settings", "mod_actions", "known_users"] {
            let left = db
                .query_i64(
                    &format!("SELECT COUNT(*) FROM {table} WHERE chat_id = $1"),
                    &[old],
                )
                .await;
            assert_eq!(left, 0, "round {round}: {table} has rows of the old id");
        }
    }
}

// --- guards --------------------------------------------------------------

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// The guards' lookups, with literal arguments (the store's SQL as each
/// backend runs it; `$N` become values): served by indexes, each a range of
/// one chat (or one member of it).
const GUARD_LOOKUPS: [&str; 14] = [
    "SELECT 0 AS part, CAST(NULL AS TEXT) AS name, CAST(NULL AS TEXT) AS text, \
     CAST(NULL AS TEXT) AS entities, blacklist_mode, blacklist_seconds, locks, \
     flood_consecutive, flood_timer_count, flood_timer_seconds, flood_mode, flood_seconds, \
     disabled_delete FROM guard_settings WHERE chat_id = -1 \
     UNION ALL SELECT 1, keyword, text, entities, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL FROM filters WHERE chat_id = -1 \
     UNION ALL SELECT 2, entry, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL FROM blacklist WHERE chat_id = -1 \
     UNION ALL SELECT 3, command, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL FROM disabled_commands WHERE chat_id = -1",
    "SELECT keyword, text, entities FROM filters WHERE chat_id = -1 ORDER BY keyword",
    "SELECT COUNT(*) FROM filters WHERE chat_id = -1",
    "DELETE FROM filters WHERE chat_id = -1 AND keyword = 'x'",
    "SELECT entry FROM blacklist WHERE chat_id = -1 ORDER BY entry",
    "SELECT command FROM disabled_commands WHERE chat_id = -1 ORDER BY command",
    "SELECT locks FROM guard_settings WHERE chat_id = -1",
    "DELETE FROM flood_hits WHERE chat_id = -1 AND at_ms <= 0",
    "SELECT COUNT(*) FROM flood_hits WHERE chat_id = -1 AND user_id = 1 AND at_ms > 0",
    "DELETE FROM flood_hits WHERE chat_id = -1 AND user_id = 1 AND at_ms < ( \
     SELECT at_ms FROM flood_hits WHERE chat_id = -1 AND user_id = 1 \
     ORDER BY at_ms DESC LIMIT 1 OFFSET 99)",
    "UPDATE flood_streaks SET streak = 0 WHERE chat_id = -1 AND user_id = 1",
    "DELETE FROM flood_hits WHERE chat_id = -1 AND user_id = 1",
    "DELETE FROM flood_hits WHERE chat_id = -1",
    "UPDATE flood_hits SET chat_id = -2 WHERE chat_id = -1",
];

/// PostgreSQL: the per-message upsert finds its conflict by the primary key.
const GUARD_UPSERTS: [&str; 1] = [
    "INSERT INTO flood_streaks (chat_id, user_id, streak) VALUES (-1, 1, 1) \
     ON CONFLICT (chat_id) DO UPDATE \
     SET streak = CASE WHEN flood_streaks.user_id = excluded.user_id \
     THEN flood_streaks.streak + 1 ELSE 1 END, user_id = excluded.user_id RETURNING streak",
];

async fn filters_save_replace_list_count_delete(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let bold = r#"[{"type":"bold","offset":0,"length":5}]"#;
    assert!(store.filters(-100).await.unwrap().is_empty());
    assert_eq!(store.filter_count(-100).await.unwrap(), 0);
    assert!(
        !store
            .save_filter(-100, "good morning", &text("Hello", bold))
            .await
            .unwrap()
    );
    assert!(
        !store
            .save_filter(-100, "été", &text("Summer", "[]"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .save_filter(-100, "zebra", &text("Z", "[]"))
            .await
            .unwrap()
    );
    assert!(
        store
            .save_filter(-100, "zebra", &text("Zebra!", "[]"))
            .await
            .unwrap(),
        "replaced"
    );
    store
        .save_filter(-200, "other", &text("O", "[]"))
        .await
        .unwrap();
    // Byte-wise: "été" (0xC3…) after "zebra".
    assert_eq!(
        store.filters(-100).await.unwrap(),
        [
            ("good morning".to_owned(), text("Hello", bold)),
            ("zebra".to_owned(), text("Zebra!", "[]")),
            ("été".to_owned(), text("Summer", "[]")),
        ]
    );
    assert_eq!(store.filter_count(-100).await.unwrap(), 3);
    assert!(store.delete_filter(-100, "zebra").await.unwrap());
    assert!(!store.delete_filter(-100, "zebra").await.unwrap());
    assert!(!store.delete_filter(-100, "other").await.unwrap());
    assert_eq!(store.filter_count(-100).await.unwrap(), 2);
    assert_eq!(store.delete_all_filters(-100).await.unwrap(), 2);
    assert_eq!(store.delete_all_filters(-100).await.unwrap(), 0);
    assert!(store.filters(-100).await.unwrap().is_empty());
    assert_eq!(
        store.filter_count(-200).await.unwrap(),
        1,
        "other chats stay"
    );
}

async fn blacklist_adds_removes_and_acts(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert!(store.blacklist(-100).await.unwrap().is_empty());
    assert_eq!(store.add_blacklist(-100, &[]).await.unwrap(), 0);
    assert_eq!(
        store
            .add_blacklist(-100, &names(&["casino", "buy*now", "casino"]))
            .await
            .unwrap(),
        2,
        "a repeated entry is new once"
    );
    assert_eq!(
        store
            .add_blacklist(-100, &names(&["casino", "*coin"]))
            .await
            .unwrap(),
        1
    );
    store.add_blacklist(-200, &names(&["other"])).await.unwrap();
    assert_eq!(
        store.blacklist(-100).await.unwrap(),
        ["*coin", "buy*now", "casino"]
    );
    assert_eq!(
        store
            .remove_blacklist(-100, &names(&["casino", "missing", "other"]))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.remove_blacklist(-100, &[]).await.unwrap(), 0);
    assert_eq!(store.blacklist(-100).await.unwrap(), ["*coin", "buy*now"]);
    assert_eq!(store.blacklist(-200).await.unwrap(), ["other"]);

    assert_eq!(
        store.blacklist_action(-100).await.unwrap(),
        GuardAction::Delete
    );
    for action in [
        GuardAction::Warn,
        GuardAction::Mute,
        GuardAction::Kick,
        GuardAction::Ban,
        GuardAction::TempMute(90),
        GuardAction::TempBan(u64::MAX),
        GuardAction::Delete,
    ] {
        store.set_blacklist_action(-100, action).await.unwrap();
        let expected = match action {
            // Beyond the column's range: its largest value.
            GuardAction::TempBan(_) => GuardAction::TempBan(i64::MAX as u64),
            other => other,
        };
        assert_eq!(store.blacklist_action(-100).await.unwrap(), expected);
    }
    // Other settings of the row are left alone.
    store.set_locks(-100, 7).await.unwrap();
    store
        .set_blacklist_action(-100, GuardAction::Ban)
        .await
        .unwrap();
    assert_eq!(store.locks(-100).await.unwrap(), 7);
    assert_eq!(
        store.blacklist_action(-200).await.unwrap(),
        GuardAction::Delete
    );
}

/// An action a newer castellan wrote, or a temporary one without a length,
/// reads as the default (and the other settings stay).
async fn unknown_guard_actions_read_as_defaults(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    store.set_locks(-100, 3).await.unwrap();
    store
        .set_flood_settings(
            -100,
            &FloodSettings {
                consecutive: Some(4),
                timer: None,
                action: GuardAction::Ban,
            },
        )
        .await
        .unwrap();
    for (mode, seconds) in [("future", "60"), ("tban", "NULL"), ("tmute", "-5")] {
        db.query_i64(
            &format!(
                "UPDATE guard_settings SET blacklist_mode = '{mode}', blacklist_seconds = {seconds},
                 flood_mode = '{mode}', flood_seconds = {seconds}
                 WHERE chat_id = $1 RETURNING chat_id"
            ),
            &[-100],
        )
        .await;
        assert_eq!(
            store.blacklist_action(-100).await.unwrap(),
            GuardAction::Delete,
            "{mode} {seconds}"
        );
        let guards = store.guards(-100).await.unwrap();
        assert_eq!(guards.blacklist_action, GuardAction::Delete);
        assert_eq!(
            guards.flood,
            FloodSettings {
                consecutive: Some(4),
                timer: None,
                action: GuardAction::Mute
            },
            "{mode} {seconds}"
        );
        assert_eq!(store.flood_settings(-100).await.unwrap(), guards.flood);
        assert_eq!(guards.locks, 3);
    }
}

async fn locks_default_and_round_trip(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert_eq!(store.locks(-100).await.unwrap(), 0);
    // Every bit is kept, the column's sign bit too.
    for bits in [1, 0b1011, 1 << 63, u64::MAX, 0] {
        store.set_locks(-100, bits).await.unwrap();
        assert_eq!(store.locks(-100).await.unwrap(), bits);
        assert_eq!(store.guards(-100).await.unwrap().locks, bits);
    }
    store.set_locks(-100, 5).await.unwrap();
    assert_eq!(store.locks(-200).await.unwrap(), 0);
    // Other settings of the row are left alone.
    store.set_disabled_delete(-100, true).await.unwrap();
    store
        .set_flood_settings(-100, &FloodSettings::default())
        .await
        .unwrap();
    assert_eq!(store.locks(-100).await.unwrap(), 5);
}

async fn flood_settings_default_and_round_trip(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let default = store.flood_settings(-100).await.unwrap();
    assert_eq!(default, FloodSettings::default());
    assert_eq!(
        default,
        FloodSettings {
            consecutive: None,
            timer: None,
            action: GuardAction::Mute
        }
    );
    for settings in [
        FloodSettings {
            consecutive: Some(5),
            timer: None,
            action: GuardAction::Ban,
        },
        FloodSettings {
            consecutive: None,
            timer: Some((10, 30)),
            action: GuardAction::TempMute(3_600),
        },
        FloodSettings {
            consecutive: Some(u32::MAX),
            timer: Some((u32::MAX, 86_400)),
            action: GuardAction::TempBan(60),
        },
        FloodSettings::default(),
    ] {
        store.set_flood_settings(-100, &settings).await.unwrap();
        assert_eq!(store.flood_settings(-100).await.unwrap(), settings);
        assert_eq!(store.guards(-100).await.unwrap().flood, settings);
    }
    store.set_locks(-100, 9).await.unwrap();
    store
        .set_blacklist_action(-100, GuardAction::Kick)
        .await
        .unwrap();
    assert_eq!(
        store.flood_settings(-100).await.unwrap(),
        FloodSettings::default(),
        "other settings leave the flood's alone"
    );
    assert_eq!(
        store.flood_settings(-200).await.unwrap(),
        FloodSettings::default()
    );
}

fn counted(consecutive: u32, in_window: u32) -> FloodCount {
    FloodCount {
        consecutive,
        in_window,
    }
}

async fn flood_hits_count_streaks_and_windows(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    let (chat, ann, bob) = (-100, 1, 2);
    // Without a window: the streak alone.
    for expected in 1..=3 {
        assert_eq!(
            store.flood_hit(chat, ann, 1_000, None).await.unwrap(),
            counted(expected, 0)
        );
    }
    // Someone else writes: Ann's streak ends, Bob's starts.
    assert_eq!(
        store.flood_hit(chat, bob, 1_001, None).await.unwrap(),
        counted(1, 0)
    );
    assert_eq!(
        store.flood_hit(chat, ann, 1_002, None).await.unwrap(),
        counted(1, 0)
    );
    // Another chat has its own streak.
    assert_eq!(
        store.flood_hit(-200, bob, 1_003, None).await.unwrap(),
        counted(1, 0)
    );
    assert_eq!(
        store.flood_hit(chat, ann, 1_004, None).await.unwrap(),
        counted(2, 0)
    );
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM flood_hits", &[]).await,
        0,
        "nothing is recorded without a window"
    );

    // A window of 10 s: each member's messages within it, anyone's
    // messages in between or not.
    let window = Some(10_000);
    assert_eq!(
        store.flood_hit(chat, ann, 10_000, window).await.unwrap(),
        counted(3, 1)
    );
    assert_eq!(
        store.flood_hit(chat, bob, 11_000, window).await.unwrap(),
        counted(1, 1)
    );
    assert_eq!(
        store.flood_hit(chat, ann, 15_000, window).await.unwrap(),
        counted(1, 2)
    );
    assert_eq!(
        store.flood_hit(chat, ann, 19_999, window).await.unwrap(),
        counted(2, 3)
    );
    // 10 s after the first: it is out (the window's start is excluded).
    assert_eq!(
        store.flood_hit(chat, ann, 20_000, window).await.unwrap(),
        counted(3, 3)
    );
    assert_eq!(
        store.flood_hit(chat, bob, 29_999, window).await.unwrap(),
        counted(1, 1)
    );
    // The chat's messages out of the window are gone: Ann's last one (at
    // 20 s) is the oldest kept.
    assert_eq!(
        db.query_i64(
            "SELECT COUNT(*) FROM flood_hits WHERE chat_id = $1",
            &[chat]
        )
        .await,
        2
    );
    // Now her message at 20 s is out too.
    assert_eq!(
        store.flood_hit(chat, ann, 30_001, window).await.unwrap(),
        counted(1, 1)
    );
    // New settings restart the chat's counting.
    store
        .set_flood_settings(chat, &FloodSettings::default())
        .await
        .unwrap();
    assert_eq!(
        db.query_i64(
            "SELECT COUNT(*) FROM flood_hits WHERE chat_id = $1",
            &[chat]
        )
        .await,
        0
    );
    assert_eq!(
        store.flood_hit(chat, ann, 30_002, window).await.unwrap(),
        counted(1, 1)
    );
    assert_eq!(
        store.flood_hit(-200, bob, 30_003, None).await.unwrap(),
        counted(2, 0),
        "other chats' counting goes on"
    );
}

/// However much one member writes within a long window, the chat keeps at
/// most FLOOD_WINDOW_LIMIT of their messages, and counts that many.
async fn flood_window_is_bounded(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    let total = FLOOD_WINDOW_LIMIT + 20;
    let mut last = counted(0, 0);
    for i in 0..total {
        last = store
            .flood_hit(-100, 1, i64::from(i), Some(3_600_000))
            .await
            .unwrap();
        assert_eq!(last.in_window, (i + 1).min(FLOOD_WINDOW_LIMIT));
    }
    assert_eq!(last, counted(total, FLOOD_WINDOW_LIMIT));
    let kept = db
        .query_i64(
            "SELECT COUNT(*) FROM flood_hits WHERE chat_id = $1 AND user_id = $2",
            &[-100, 1],
        )
        .await;
    assert_eq!(kept, i64::from(FLOOD_WINDOW_LIMIT));
    let oldest = db
        .query_i64(
            "SELECT MIN(at_ms) FROM flood_hits WHERE chat_id = $1",
            &[-100],
        )
        .await;
    assert_eq!(
        oldest,
        i64::from(total - FLOOD_WINDOW_LIMIT),
        "the newest kept"
    );
}

async fn flood_reset_starts_the_member_afresh(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let window = Some(60_000);
    for at in 0..4 {
        store.flood_hit(-100, 1, at, window).await.unwrap();
    }
    store.flood_hit(-100, 2, 4, window).await.unwrap();
    store.flood_hit(-200, 1, 5, window).await.unwrap();
    store.flood_reset(-100, 1).await.unwrap();
    assert_eq!(
        store.flood_hit(-100, 1, 6, window).await.unwrap(),
        counted(1, 1)
    );
    store.flood_hit(-100, 1, 7, window).await.unwrap();
    // The streak's holder reset: their next message counts 1.
    store.flood_reset(-100, 1).await.unwrap();
    assert_eq!(
        store.flood_hit(-100, 1, 8, window).await.unwrap(),
        counted(1, 1)
    );
    // Others keep theirs, here and in other chats.
    assert_eq!(
        store.flood_hit(-100, 2, 9, window).await.unwrap(),
        counted(1, 2)
    );
    assert_eq!(
        store.flood_hit(-200, 1, 10, window).await.unwrap(),
        counted(2, 2)
    );
    // Resetting someone never counted is fine.
    store.flood_reset(-300, 9).await.unwrap();
}

/// Two stores (two replicas behind one webhook) count one chat's messages
/// at once: the counts are exact, as if the messages came one by one.
async fn concurrent_flood_hits_from_two_stores_count_exactly(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let stores = [db.open().await, db.open().await];
    // One member floods: each message sees every earlier one.
    let hits = 40_u32;
    let tasks: Vec<_> = (0..hits)
        .map(|i| {
            let store = Arc::clone(&stores[(i % 2) as usize]);
            let window = (i % 4 < 2).then_some(60_000);
            tokio::spawn(async move { store.flood_hit(-100, 7, 1_000, window).await })
        })
        .collect();
    let mut streaks = Vec::new();
    let mut windows = Vec::new();
    for task in tasks {
        let count = task.await.unwrap().unwrap();
        streaks.push(count.consecutive);
        if count.in_window > 0 {
            windows.push(count.in_window);
        }
    }
    streaks.sort_unstable();
    assert_eq!(streaks, (1..=hits).collect::<Vec<_>>());
    windows.sort_unstable();
    assert_eq!(windows, (1..=hits / 2).collect::<Vec<_>>());

    // Two members at once: whatever the order, each message either goes on
    // the previous one's streak (by the same member) or starts at 1 after
    // the other's; so per member, the streaks are runs 1..=k, and the runs
    // of the two alternate.
    let tasks: Vec<_> = (0..hits)
        .map(|i| {
            let store = Arc::clone(&stores[(i % 2) as usize]);
            let user = i64::from(i / 2 % 2) + 1;
            tokio::spawn(async move {
                let count = store.flood_hit(-200, user, 1_000, Some(60_000)).await?;
                Ok::<_, castellan::store::StoreError>((user, count))
            })
        })
        .collect();
    let mut by_user: [Vec<FloodCount>; 2] = [Vec::new(), Vec::new()];
    for task in tasks {
        let (user, count) = task.await.unwrap().unwrap();
        by_user[(user - 1) as usize].push(count);
    }
    let mut runs = [0_usize; 2];
    for (member, counts) in by_user.iter().enumerate() {
        let mut in_window: Vec<u32> = counts.iter().map(|count| count.in_window).collect();
        in_window.sort_unstable();
        assert_eq!(in_window, (1..=hits / 2).collect::<Vec<_>>());
        let streaks: Vec<u32> = counts.iter().map(|count| count.consecutive).collect();
        let max = streaks.iter().copied().max().unwrap();
        let at = |k: u32| streaks.iter().filter(|&&streak| streak == k).count();
        for k in 1..max {
            assert!(at(k) >= at(k + 1), "member {member}: {streaks:?}");
        }
        runs[member] = at(1);
    }
    assert!(runs[0].abs_diff(runs[1]) <= 1, "{runs:?}");
}

async fn disabled_commands_and_their_deletion(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert!(store.disabled_commands(-100).await.unwrap().is_empty());
    assert!(!store.disabled_delete(-100).await.unwrap());
    assert_eq!(
        store
            .disable_commands(-100, &names(&["rules", "get", "rules"]))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .disable_commands(-100, &names(&["get", "notes"]))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.disable_commands(-100, &[]).await.unwrap(), 0);
    store
        .disable_commands(-200, &names(&["warns"]))
        .await
        .unwrap();
    assert_eq!(
        store.disabled_commands(-100).await.unwrap(),
        ["get", "notes", "rules"]
    );
    assert_eq!(
        store
            .enable_commands(-100, &names(&["get", "warns"]))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.enable_commands(-100, &[]).await.unwrap(), 0);
    assert_eq!(
        store.disabled_commands(-100).await.unwrap(),
        ["notes", "rules"]
    );
    assert_eq!(store.disabled_commands(-200).await.unwrap(), ["warns"]);
    store.set_disabled_delete(-100, true).await.unwrap();
    assert!(store.disabled_delete(-100).await.unwrap());
    assert!(!store.disabled_delete(-200).await.unwrap());
    store.set_locks(-100, 1).await.unwrap();
    assert!(store.disabled_delete(-100).await.unwrap(), "kept");
    store.set_disabled_delete(-100, false).await.unwrap();
    assert!(!store.disabled_delete(-100).await.unwrap());
}

async fn guards_gather_everything_in_one_read(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    assert_eq!(store.guards(-100).await.unwrap(), GuardSet::default());
    // Lists alone: the settings stay the defaults.
    store
        .save_filter(-100, "b", &text("B", "[]"))
        .await
        .unwrap();
    store
        .save_filter(
            -100,
            "a",
            &text("A", r#"[{"type":"italic","offset":0,"length":1}]"#),
        )
        .await
        .unwrap();
    store
        .add_blacklist(-100, &names(&["z", "y"]))
        .await
        .unwrap();
    store
        .disable_commands(-100, &names(&["notes", "get"]))
        .await
        .unwrap();
    let lists = GuardSet {
        filters: vec![
            (
                "a".to_owned(),
                text("A", r#"[{"type":"italic","offset":0,"length":1}]"#),
            ),
            ("b".to_owned(), text("B", "[]")),
        ],
        blacklist: names(&["y", "z"]),
        disabled: names(&["get", "notes"]),
        ..GuardSet::default()
    };
    assert_eq!(store.guards(-100).await.unwrap(), lists);
    // Settings alone, in another chat.
    let flood = FloodSettings {
        consecutive: Some(3),
        timer: Some((5, 10)),
        action: GuardAction::TempMute(60),
    };
    store.set_flood_settings(-200, &flood).await.unwrap();
    store
        .set_blacklist_action(-200, GuardAction::Warn)
        .await
        .unwrap();
    store.set_locks(-200, 1 << 40).await.unwrap();
    store.set_disabled_delete(-200, true).await.unwrap();
    let settings = GuardSet {
        blacklist_action: GuardAction::Warn,
        locks: 1 << 40,
        flood,
        disabled_delete: true,
        ..GuardSet::default()
    };
    assert_eq!(store.guards(-200).await.unwrap(), settings);
    // Both.
    store.set_flood_settings(-100, &flood).await.unwrap();
    assert_eq!(
        store.guards(-100).await.unwrap(),
        GuardSet {
            flood,
            ..lists.clone()
        }
    );
    assert_eq!(store.guards(-300).await.unwrap(), GuardSet::default());
}

async fn migrate_chat_moves_guards_on_conflict(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    let (old, new) = (-100, -1_000_000_000_100);
    store
        .save_filter(old, "shared", &text("old", "[]"))
        .await
        .unwrap();
    store
        .save_filter(old, "only_old", &text("old", "[]"))
        .await
        .unwrap();
    store
        .save_filter(new, "shared", &text("new", "[]"))
        .await
        .unwrap();
    store.add_blacklist(old, &names(&["a", "b"])).await.unwrap();
    store.add_blacklist(new, &names(&["b", "c"])).await.unwrap();
    store
        .disable_commands(old, &names(&["get", "rules"]))
        .await
        .unwrap();
    store
        .disable_commands(new, &names(&["rules"]))
        .await
        .unwrap();
    store.set_locks(old, 3).await.unwrap();
    store
        .set_flood_settings(old, &sample_flood())
        .await
        .unwrap();
    store.flood_hit(old, 7, 1_000, Some(60_000)).await.unwrap();
    store.flood_hit(old, 7, 1_001, Some(60_000)).await.unwrap();

    // A chat whose only settings are the old id's: they move whole.
    store.migrate_chat(old, new).await.unwrap();

    assert_eq!(
        store.guards(new).await.unwrap(),
        GuardSet {
            filters: vec![
                ("only_old".to_owned(), text("old", "[]")),
                ("shared".to_owned(), text("new", "[]")),
            ],
            blacklist: names(&["a", "b", "c"]),
            blacklist_action: GuardAction::Delete,
            locks: 3,
            flood: sample_flood(),
            disabled: names(&["get", "rules"]),
            disabled_delete: false,
        }
    );
    assert_eq!(store.guards(old).await.unwrap(), GuardSet::default());
    // The flood counts go on under the new id.
    assert_eq!(
        store.flood_hit(new, 7, 1_002, Some(60_000)).await.unwrap(),
        counted(3, 3)
    );

    // Settings of both ids: the new chat's win, whole.
    let (older, newer) = (-300, -1_000_000_000_300);
    store.set_locks(older, 1).await.unwrap();
    store.set_disabled_delete(older, true).await.unwrap();
    store
        .set_blacklist_action(newer, GuardAction::Ban)
        .await
        .unwrap();
    store.flood_hit(older, 1, 1_000, None).await.unwrap();
    store.flood_hit(newer, 2, 1_000, None).await.unwrap();
    store.migrate_chat(older, newer).await.unwrap();
    let moved = store.guards(newer).await.unwrap();
    assert_eq!(
        (moved.locks, moved.disabled_delete, moved.blacklist_action),
        (0, false, GuardAction::Ban)
    );
    assert_eq!(
        store.flood_hit(newer, 2, 1_001, None).await.unwrap(),
        counted(2, 0),
        "the new chat's streak wins"
    );
    for table in [
        "filters",
        "blacklist",
        "disabled_commands",
        "guard_settings",
        "flood_streaks",
        "flood_hits",
    ] {
        for gone in [old, older] {
            let left = db
                .query_i64(
                    &format!("SELECT COUNT(*) FROM {table} WHERE chat_id = $1"),
                    &[gone],
                )
                .await;
            assert_eq!(left, 0, "{table} still has rows of {gone}");
        }
    }
}

/// A change of a chat's guards, or of one member's standing, reaches every
/// other castellan on the database, told apart from a change of its
/// admins; a castellan's own
/// announcements never come back to it. SQLite: nothing to announce.
async fn guards_announcements_reach_other_stores(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (listening, other) = (db.open().await, db.open().await);
    let Some(mut changes) = listening.admin_changes().await.unwrap() else {
        assert_eq!(backend, Backend::Sqlite);
        listening.announce_guards_changed(-100).await.unwrap();
        return;
    };
    listening.announce_guards_changed(-1).await.unwrap();
    other.announce_guards_changed(-100).await.unwrap();
    other.announce_admins_changed(-200).await.unwrap();
    other
        .announce_guards_changed(-1_000_000_000_300)
        .await
        .unwrap();
    listening.announce_member_changed(-100, 7).await.unwrap();
    other
        .announce_member_changed(-1_000_000_000_300, 4_503_599_627_370_495)
        .await
        .unwrap();
    let mut heard = Vec::new();
    for _ in 0..4 {
        let change = tokio::time::timeout(std::time::Duration::from_secs(10), changes.next())
            .await
            .expect("an announcement in time")
            .unwrap();
        heard.push(change);
    }
    assert_eq!(
        heard,
        [
            AdminChange::Guards(-100),
            AdminChange::Chat(-200),
            AdminChange::Guards(-1_000_000_000_300),
            AdminChange::Member(-1_000_000_000_300, 4_503_599_627_370_495),
        ]
    );
}
