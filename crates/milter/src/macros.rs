//! The macro store: values the MTA sends in MACRO packets before each command, kept per stage
//! and looked up by name in either spelling (`i` or `{i}`).

use crate::options::Stage;

/// Macro values by stage. A new MACRO packet for a stage replaces that stage's values; a new
/// message (macros for MAIL, or ABORT) forgets the values of the previous one.
#[derive(Debug, Clone, Default)]
pub struct MacroStore {
    stages: [Vec<(Vec<u8>, Vec<u8>)>; 7],
}

/// Lookup order: the most recent stage of a transaction first, so a per-recipient value
/// shadows an older one of the same name.
const NEWEST_FIRST: [Stage; 7] = [
    Stage::EndOfMessage,
    Stage::EndOfHeaders,
    Stage::Data,
    Stage::EnvRcpt,
    Stage::EnvFrom,
    Stage::Helo,
    Stage::Connect,
];

impl MacroStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the values of `stage`. Values for MAIL start a new message, so they also drop
    /// everything from the previous message.
    pub fn set(&mut self, stage: Stage, macros: Vec<(Vec<u8>, Vec<u8>)>) {
        if stage == Stage::EnvFrom {
            self.clear_message();
        }
        if let Some(slot) = self.stages.get_mut(stage.number() as usize) {
            *slot = macros
                .into_iter()
                .map(|(name, value)| (normalize(&name).to_vec(), value))
                .collect();
        }
    }

    /// The value of macro `name` (`i` and `{i}` are the same macro), newest stage first.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let name = normalize(name.as_bytes());
        NEWEST_FIRST.into_iter().find_map(|stage| {
            self.stage(stage)
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, value)| value.as_slice())
        })
    }

    /// The values of one stage, names without braces.
    pub fn stage(&self, stage: Stage) -> &[(Vec<u8>, Vec<u8>)] {
        self.stages
            .get(stage.number() as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// Forgets the values of the current message (MAIL and later stages).
    pub fn clear_message(&mut self) {
        for stage in Stage::ALL.into_iter().filter(|s| s.is_message()) {
            if let Some(slot) = self.stages.get_mut(stage.number() as usize) {
                slot.clear();
            }
        }
    }

    /// Forgets everything (a new SMTP session).
    pub fn clear(&mut self) {
        self.stages.iter_mut().for_each(Vec::clear);
    }
}

/// `{name}` and `name` denote the same macro; the store keys on the bare name.
pub fn normalize(name: &[u8]) -> &[u8] {
    name.strip_prefix(b"{")
        .and_then(|n| n.strip_suffix(b"}"))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn both_spellings_find_the_value() {
        let mut store = MacroStore::new();
        store.set(
            Stage::Connect,
            pairs(&[("j", "mx"), ("{daemon_name}", "submission")]),
        );
        store.set(Stage::EnvFrom, pairs(&[("{i}", "4ABC")]));
        for name in ["i", "{i}"] {
            assert_eq!(store.get(name), Some(&b"4ABC"[..]));
        }
        for name in ["daemon_name", "{daemon_name}"] {
            assert_eq!(store.get(name), Some(&b"submission"[..]));
        }
        assert_eq!(store.get("{j}"), Some(&b"mx"[..]));
        assert_eq!(store.get("nope"), None);
        assert_eq!(store.get("{"), None);
        assert_eq!(normalize(b"{}"), b"");
    }

    #[test]
    fn newer_stage_shadows_older() {
        let mut store = MacroStore::new();
        store.set(Stage::EnvFrom, pairs(&[("i", "old")]));
        store.set(Stage::EndOfMessage, pairs(&[("i", "new")]));
        assert_eq!(store.get("i"), Some(&b"new"[..]));
    }

    #[test]
    fn new_mail_and_clear_message_forget_the_message_only() {
        let mut store = MacroStore::new();
        store.set(Stage::Connect, pairs(&[("j", "mx")]));
        store.set(Stage::EnvFrom, pairs(&[("{auth_authen}", "alice")]));
        store.set(Stage::EnvRcpt, pairs(&[("{rcpt_addr}", "b@example")]));
        store.set(Stage::EnvFrom, pairs(&[("i", "2")]));
        assert_eq!(store.get("auth_authen"), None);
        assert_eq!(store.get("rcpt_addr"), None);
        assert_eq!(store.get("i"), Some(&b"2"[..]));
        store.clear_message();
        assert_eq!(store.get("i"), None);
        assert_eq!(store.get("j"), Some(&b"mx"[..]));
        store.clear();
        assert_eq!(store.get("j"), None);
    }
}
