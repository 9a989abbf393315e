//! The committed fixture `spec/bot-api.json` must be what `derive_fixture`
//! makes of the full Bot API description in ../shared (when present).
//! `UPDATE_BOT_API_SPEC=1 cargo test -p fake-bot-api --test spec_fixture`
//! rewrites it.

use std::path::PathBuf;

use fake_bot_api::spec::{FIXTURE, derive_fixture, spec};

#[test]
fn fixture_matches_the_full_spec() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let api = manifest.join("../../shared/telegram-bot-api/api.json");
    let Ok(text) = std::fs::read_to_string(&api) else {
        eprintln!("{} absent: fixture check skipped", api.display());
        return;
    };
    let full: serde_json::Value = serde_json::from_str(&text).expect("api.json is JSON");
    let derived = derive_fixture(&full);
    if std::env::var("UPDATE_BOT_API_SPEC").is_ok_and(|v| v == "1") {
        std::fs::write(manifest.join("spec/bot-api.json"), &derived).expect("write fixture");
        return;
    }
    assert!(
        derived == FIXTURE,
        "spec/bot-api.json is stale: rerun with UPDATE_BOT_API_SPEC=1"
    );
}

#[test]
fn fixture_has_the_essentials() {
    let s = spec();
    assert!(s.version.starts_with("Bot API"), "{}", s.version);
    let send = s.method("SendMessage").expect("sendMessage");
    assert_eq!(send.name, "sendMessage");
    assert!(send.required.contains_key("chat_id"));
    assert!(send.required.contains_key("text"));
    assert!(send.optional.contains_key("reply_markup"));
    assert!(s.method("getUpdates").is_some());
    let user = s.type_spec("User").expect("User");
    assert!(user.required.contains_key("first_name"));
    let cm = s.type_spec("ChatMember").expect("ChatMember");
    assert_eq!(cm.subtypes.len(), 6);
}
