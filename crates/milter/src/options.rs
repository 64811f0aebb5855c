//! Option negotiation: the action and protocol bit sets, macro stages, the OPTNEG packet, and
//! the arithmetic each side applies to the other's offer.

use crate::ProtocolError;
use crate::wire::{Reader, put_cstr, put_u32};

/// The protocol version this crate speaks (Sendmail 8.14+, Postfix 2.6+).
pub const VERSION: u32 = 6;
/// The oldest version libmilter (and this crate) still talks to.
pub const MIN_VERSION: u32 = 2;

bitflags::bitflags! {
    /// What a filter may do to a message (`SMFIF_*`): the MTA offers, the filter requests.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Actions: u32 {
        /// `SMFIF_ADDHDRS`: add and insert headers.
        const ADD_HEADERS = 0x1;
        /// `SMFIF_CHGBODY`: replace the body.
        const CHANGE_BODY = 0x2;
        /// `SMFIF_ADDRCPT`: add recipients.
        const ADD_RCPT = 0x4;
        /// `SMFIF_DELRCPT`: delete recipients.
        const DELETE_RCPT = 0x8;
        /// `SMFIF_CHGHDRS`: change or delete headers.
        const CHANGE_HEADERS = 0x10;
        /// `SMFIF_QUARANTINE`: quarantine the message.
        const QUARANTINE = 0x20;
        /// `SMFIF_CHGFROM`: replace the envelope sender.
        const CHANGE_FROM = 0x40;
        /// `SMFIF_ADDRCPT_PAR`: add recipients with ESMTP arguments.
        const ADD_RCPT_WITH_ARGS = 0x80;
        /// `SMFIF_SETSYMLIST`: send per-stage macro name lists in the OPTNEG reply.
        const SET_SYMBOL_LIST = 0x100;
    }
}

bitflags::bitflags! {
    /// Protocol steps to leave out (`NO_*`), steps the filter will not answer (`NR_*`), and
    /// extensions (`SMFIP_*`): the MTA offers, the filter requests.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ProtocolFlags: u32 {
        /// `SMFIP_NOCONNECT`: do not send CONNECT.
        const NO_CONNECT = 0x1;
        /// `SMFIP_NOHELO`: do not send HELO.
        const NO_HELO = 0x2;
        /// `SMFIP_NOMAIL`: do not send MAIL.
        const NO_MAIL = 0x4;
        /// `SMFIP_NORCPT`: do not send RCPT.
        const NO_RCPT = 0x8;
        /// `SMFIP_NOBODY`: do not send body chunks.
        const NO_BODY = 0x10;
        /// `SMFIP_NOHDRS`: do not send headers.
        const NO_HEADERS = 0x20;
        /// `SMFIP_NOEOH`: do not send end-of-headers.
        const NO_EOH = 0x40;
        /// `SMFIP_NR_HDR` (`SMFIP_NOHREPL`): no reply to headers.
        const NR_HEADER = 0x80;
        /// `SMFIP_NOUNKNOWN`: do not send unknown SMTP commands.
        const NO_UNKNOWN = 0x100;
        /// `SMFIP_NODATA`: do not send DATA.
        const NO_DATA = 0x200;
        /// `SMFIP_SKIP`: the MTA understands SKIP replies to body chunks.
        const SKIP = 0x400;
        /// `SMFIP_RCPT_REJ`: also send recipients the MTA rejected.
        const RCPT_REJECTED = 0x800;
        /// `SMFIP_NR_CONN`: no reply to CONNECT.
        const NR_CONNECT = 0x1000;
        /// `SMFIP_NR_HELO`: no reply to HELO.
        const NR_HELO = 0x2000;
        /// `SMFIP_NR_MAIL`: no reply to MAIL.
        const NR_MAIL = 0x4000;
        /// `SMFIP_NR_RCPT`: no reply to RCPT.
        const NR_RCPT = 0x8000;
        /// `SMFIP_NR_DATA`: no reply to DATA.
        const NR_DATA = 0x10000;
        /// `SMFIP_NR_UNKN`: no reply to unknown commands.
        const NR_UNKNOWN = 0x20000;
        /// `SMFIP_NR_EOH`: no reply to end-of-headers.
        const NR_EOH = 0x40000;
        /// `SMFIP_NR_BODY`: no reply to body chunks.
        const NR_BODY = 0x80000;
        /// `SMFIP_HDR_LEADSPC`: header values keep their leading space, both ways.
        const HEADER_LEADING_SPACE = 0x100000;
        /// `SMFIP_MDS_256K`: body chunks up to 256 KiB.
        const MDS_256K = 0x1000_0000;
        /// `SMFIP_MDS_1M`: body chunks up to 1 MiB.
        const MDS_1M = 0x2000_0000;
    }
}

/// What an MTA offering no actions at all is taken to allow (libmilter's `SMFI_V1_ACTS`).
const V1_ACTIONS: Actions = Actions::from_bits_truncate(0xf);
/// What an MTA offering no protocol flags at all is taken to allow (`SMFI_V1_PROT`).
const V1_PROTOCOL: ProtocolFlags = ProtocolFlags::from_bits_truncate(0x3f);

/// The protocol step a macro list belongs to (`SMFIM_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// `SMFIM_CONNECT` (0), sent before CONNECT.
    Connect,
    /// `SMFIM_HELO` (1), sent before HELO.
    Helo,
    /// `SMFIM_ENVFROM` (2), sent before MAIL.
    EnvFrom,
    /// `SMFIM_ENVRCPT` (3), sent before each RCPT.
    EnvRcpt,
    /// `SMFIM_DATA` (4), sent before DATA.
    Data,
    /// `SMFIM_EOM` (5), sent before end-of-message.
    EndOfMessage,
    /// `SMFIM_EOH` (6), sent before end-of-headers.
    EndOfHeaders,
}

impl Stage {
    /// Every stage, in wire-number order.
    pub const ALL: [Stage; 7] = [
        Stage::Connect,
        Stage::Helo,
        Stage::EnvFrom,
        Stage::EnvRcpt,
        Stage::Data,
        Stage::EndOfMessage,
        Stage::EndOfHeaders,
    ];

    /// The `SMFIM_*` number.
    pub fn number(self) -> u32 {
        match self {
            Stage::Connect => 0,
            Stage::Helo => 1,
            Stage::EnvFrom => 2,
            Stage::EnvRcpt => 3,
            Stage::Data => 4,
            Stage::EndOfMessage => 5,
            Stage::EndOfHeaders => 6,
        }
    }

    /// The stage for an `SMFIM_*` number.
    pub fn from_number(number: u32) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.number() == number)
    }

    /// The command byte a MACRO packet for this stage names: the command it precedes.
    pub fn command(self) -> u8 {
        match self {
            Stage::Connect => b'C',
            Stage::Helo => b'H',
            Stage::EnvFrom => b'M',
            Stage::EnvRcpt => b'R',
            Stage::Data => b'T',
            Stage::EndOfMessage => b'E',
            Stage::EndOfHeaders => b'N',
        }
    }

    /// The stage whose macros a MACRO packet naming `command` carries. Like libmilter, other
    /// commands (Postfix also sends macros before headers and body chunks) have no stage.
    pub fn from_command(command: u8) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.command() == command)
    }

    /// Stages from MAIL on belong to one message and are forgotten when it ends.
    pub fn is_message(self) -> bool {
        !matches!(self, Stage::Connect | Stage::Helo)
    }
}

/// One OPTNEG packet: the MTA's offer or the filter's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OptNeg {
    /// Protocol version.
    pub version: u32,
    /// Offered (MTA) or requested (filter) actions.
    pub actions: Actions,
    /// Offered (MTA) or requested (filter) protocol flags. Unknown bits from the wire are kept.
    pub protocol: ProtocolFlags,
    /// Per-stage macro name lists (space-separated, e.g. `"i {auth_authen}"`); only in a
    /// filter's answer.
    pub macros: Vec<(Stage, String)>,
}

impl OptNeg {
    /// Parses an OPTNEG payload. Macro lists for stage numbers we do not know are dropped,
    /// as Postfix does.
    pub fn parse(code: u8, payload: &[u8]) -> Result<Self, ProtocolError> {
        let mut reader = Reader::new(code, payload);
        let version = reader.u32()?;
        let actions = Actions::from_bits_retain(reader.u32()?);
        let protocol = ProtocolFlags::from_bits_retain(reader.u32()?);
        let mut macros = Vec::new();
        while !reader.is_empty() {
            let stage = reader.u32()?;
            let names = reader.cstr()?;
            if let Some(stage) = Stage::from_number(stage) {
                macros.push((stage, String::from_utf8_lossy(names).into_owned()));
            }
        }
        Ok(Self {
            version,
            actions,
            protocol,
            macros,
        })
    }

    /// Appends the payload (without framing).
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        put_u32(out, self.version);
        put_u32(out, self.actions.bits());
        put_u32(out, self.protocol.bits());
        for (stage, names) in &self.macros {
            put_u32(out, stage.number());
            put_cstr(out, names.as_bytes());
        }
    }

    /// The macro name list requested for `stage`, if any.
    pub fn macros_for(&self, stage: Stage) -> Option<&str> {
        self.macros
            .iter()
            .find(|(s, _)| *s == stage)
            .map(|(_, names)| names.as_str())
    }
}

/// The filter's answer to the MTA's `offer`: the version both speak, the wanted actions and
/// protocol flags the MTA offered (never a bit it did not offer, never an unknown bit), and the
/// macro lists when the MTA lets us send them.
pub fn answer_offer(
    offer: &OptNeg,
    actions: Actions,
    protocol: ProtocolFlags,
    macros: &[(Stage, String)],
) -> Result<OptNeg, ProtocolError> {
    if offer.version < MIN_VERSION {
        return Err(ProtocolError::UnsupportedVersion(offer.version));
    }
    // libmilter answers with the lower of the two versions; Postfix refuses a higher one.
    let version = offer.version.min(VERSION);
    // An offer of nothing means the version-1 defaults, as in libmilter.
    let offered_actions = if offer.actions.is_empty() {
        V1_ACTIONS
    } else {
        offer.actions
    };
    let offered_protocol = if offer.protocol.is_empty() {
        V1_PROTOCOL
    } else {
        offer.protocol
    };
    let mut actions = actions & offered_actions & Actions::all();
    let protocol = protocol & offered_protocol & ProtocolFlags::all();
    let mut lists: Vec<(Stage, String)> = Vec::new();
    if offered_actions.contains(Actions::SET_SYMBOL_LIST) {
        for (stage, names) in macros {
            let names = names.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
            if names.is_empty() {
                continue;
            }
            // Postfix keeps only the last list per stage; merge repeated stages instead.
            match lists.iter_mut().find(|(s, _)| s == stage) {
                Some((_, merged)) => {
                    merged.push(' ');
                    merged.push_str(&names);
                }
                None => lists.push((*stage, names)),
            }
        }
    }
    actions.set(Actions::SET_SYMBOL_LIST, !lists.is_empty());
    Ok(OptNeg {
        version,
        actions,
        protocol,
        macros: lists,
    })
}

/// Checks the filter's `answer` against what the MTA offered and returns what is in force.
///
/// Actions not offered are an error (as in Postfix). Protocol flags not offered are an error
/// too, since an `NR_*` flag we do not honour would leave us waiting for a reply that never
/// comes; the `MDS_*` size hints and unknown bits are ignored.
pub fn check_answer(offer: &OptNeg, answer: OptNeg) -> Result<OptNeg, ProtocolError> {
    if answer.version < MIN_VERSION || answer.version > offer.version.max(MIN_VERSION) {
        return Err(ProtocolError::UnsupportedVersion(answer.version));
    }
    if !offer.actions.contains(answer.actions) {
        return Err(ProtocolError::ActionsNotOffered {
            requested: answer.actions.bits(),
            offered: offer.actions.bits(),
        });
    }
    let size_hints = ProtocolFlags::MDS_256K | ProtocolFlags::MDS_1M;
    let binding = answer.protocol & (ProtocolFlags::all() - size_hints);
    if !offer.protocol.contains(binding) {
        return Err(ProtocolError::ProtocolNotOffered {
            requested: answer.protocol.bits(),
            offered: offer.protocol.bits(),
        });
    }
    Ok(OptNeg {
        protocol: answer.protocol & ProtocolFlags::all(),
        ..answer
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Postfix 3.7 (`milter_protocol = 6`) sends: version 6, every action, every v6 flag.
    const POSTFIX_OFFER: &[u8] = &[
        0, 0, 0, 6, // version
        0, 0, 0x01, 0xff, // SMFIF_* all nine
        0, 0x1f, 0xff, 0xff, // SMFIP_* bits 0..=20
    ];

    #[test]
    fn numbers_match_mfdef() {
        assert_eq!(Actions::all().bits(), 0x1ff);
        assert_eq!(ProtocolFlags::all().bits(), 0x301f_ffff);
        assert_eq!(ProtocolFlags::HEADER_LEADING_SPACE.bits(), 1 << 20);
        assert_eq!(Stage::EndOfHeaders.number(), 6);
        assert_eq!(Stage::EndOfMessage.number(), 5);
        for stage in Stage::ALL {
            assert_eq!(Stage::from_number(stage.number()), Some(stage));
            assert_eq!(Stage::from_command(stage.command()), Some(stage));
        }
        assert_eq!(Stage::from_number(7), None);
        assert_eq!(Stage::from_command(b'L'), None);
    }

    #[test]
    fn parses_postfix_offer() {
        let offer = OptNeg::parse(b'O', POSTFIX_OFFER).unwrap();
        assert_eq!(offer.version, 6);
        assert_eq!(offer.actions, Actions::all());
        assert_eq!(
            offer.protocol,
            ProtocolFlags::all() - ProtocolFlags::MDS_256K - ProtocolFlags::MDS_1M
        );
        assert!(offer.macros.is_empty());
        let mut out = Vec::new();
        offer.encode_payload(&mut out);
        assert_eq!(out, POSTFIX_OFFER);
    }

    #[test]
    fn optneg_with_macro_lists_round_trips() {
        let answer = OptNeg {
            version: 6,
            actions: Actions::ADD_HEADERS | Actions::SET_SYMBOL_LIST,
            protocol: ProtocolFlags::NR_HEADER,
            macros: vec![
                (Stage::Connect, "j {daemon_name}".into()),
                (Stage::EnvFrom, "i".into()),
            ],
        };
        let mut out = Vec::new();
        answer.encode_payload(&mut out);
        let expected: &[u8] =
            b"\0\0\0\x06\0\0\x01\x01\0\0\0\x80\0\0\0\0j {daemon_name}\0\0\0\0\x02i\0";
        assert_eq!(out, expected);
        assert_eq!(OptNeg::parse(b'O', &out).unwrap(), answer);
        assert_eq!(answer.macros_for(Stage::EnvFrom), Some("i"));
        assert_eq!(answer.macros_for(Stage::Helo), None);
    }

    #[test]
    fn optneg_errors() {
        assert_eq!(
            OptNeg::parse(b'O', &[0, 0, 0, 6, 0, 0]),
            Err(ProtocolError::Truncated { code: b'O' })
        );
        let mut unterminated = POSTFIX_OFFER.to_vec();
        unterminated.extend_from_slice(b"\0\0\0\x01j");
        assert_eq!(
            OptNeg::parse(b'O', &unterminated),
            Err(ProtocolError::MissingNul { code: b'O' })
        );
        let mut unknown_stage = POSTFIX_OFFER.to_vec();
        unknown_stage.extend_from_slice(b"\0\0\0\x09j\0");
        assert!(
            OptNeg::parse(b'O', &unknown_stage)
                .unwrap()
                .macros
                .is_empty()
        );
    }

    #[test]
    fn answer_never_echoes_unknown_or_unoffered_bits() {
        let offer = OptNeg {
            version: 6,
            actions: Actions::from_bits_retain(0xffff_ffff),
            protocol: ProtocolFlags::from_bits_retain(0xffff_ffff) - ProtocolFlags::NR_BODY,
            macros: vec![],
        };
        let answer = answer_offer(
            &offer,
            Actions::ADD_HEADERS,
            ProtocolFlags::NR_HEADER | ProtocolFlags::NR_BODY,
            &[],
        )
        .unwrap();
        assert_eq!(answer.actions, Actions::ADD_HEADERS);
        assert_eq!(answer.protocol, ProtocolFlags::NR_HEADER);
        assert!(answer.macros.is_empty());
    }

    #[test]
    fn answer_requests_symbol_list_only_when_offered() {
        let mut offer = OptNeg::parse(b'O', POSTFIX_OFFER).unwrap();
        let macros = [
            (Stage::EnvFrom, "i  {auth_authen}".to_string()),
            (Stage::EnvFrom, "{auth_type}".to_string()),
            (Stage::Helo, " ".to_string()),
        ];
        let answer = answer_offer(
            &offer,
            Actions::ADD_HEADERS,
            ProtocolFlags::empty(),
            &macros,
        )
        .unwrap();
        assert_eq!(
            answer.actions,
            Actions::ADD_HEADERS | Actions::SET_SYMBOL_LIST
        );
        assert_eq!(
            answer.macros,
            vec![(Stage::EnvFrom, "i {auth_authen} {auth_type}".to_string())]
        );
        offer.actions.remove(Actions::SET_SYMBOL_LIST);
        let answer = answer_offer(
            &offer,
            Actions::ADD_HEADERS,
            ProtocolFlags::empty(),
            &macros,
        )
        .unwrap();
        assert_eq!(answer.actions, Actions::ADD_HEADERS);
        assert!(answer.macros.is_empty());
        // Asking for SET_SYMBOL_LIST without lists does not request it.
        let answer = answer_offer(&offer, Actions::all(), ProtocolFlags::empty(), &[]).unwrap();
        assert!(!answer.actions.contains(Actions::SET_SYMBOL_LIST));
    }

    #[test]
    fn answer_versions() {
        let mut offer = OptNeg {
            version: 2,
            actions: Actions::all(),
            ..OptNeg::default()
        };
        let answer =
            |offer: &OptNeg| answer_offer(offer, Actions::ADD_HEADERS, ProtocolFlags::empty(), &[]);
        assert_eq!(answer(&offer).unwrap().version, 2);
        offer.version = 1;
        assert_eq!(answer(&offer), Err(ProtocolError::UnsupportedVersion(1)));
        offer.version = 7;
        assert_eq!(answer(&offer).unwrap().version, 6);
    }

    #[test]
    fn empty_offer_means_version_one_defaults() {
        let offer = OptNeg {
            version: 2,
            ..OptNeg::default()
        };
        let answer = answer_offer(&offer, Actions::all(), ProtocolFlags::all(), &[]).unwrap();
        assert_eq!(answer.actions, V1_ACTIONS);
        assert_eq!(answer.protocol, V1_PROTOCOL);
    }

    #[test]
    fn check_answer_rules() {
        let offer = OptNeg {
            version: 6,
            actions: Actions::ADD_HEADERS,
            protocol: ProtocolFlags::NR_HEADER | ProtocolFlags::NO_BODY,
            macros: vec![],
        };
        let good = OptNeg {
            version: 6,
            actions: Actions::ADD_HEADERS,
            protocol: ProtocolFlags::NR_HEADER
                | ProtocolFlags::MDS_256K
                | ProtocolFlags::from_bits_retain(1 << 27),
            macros: vec![],
        };
        assert_eq!(
            check_answer(&offer, good.clone()).unwrap().protocol,
            ProtocolFlags::NR_HEADER | ProtocolFlags::MDS_256K
        );
        let greedy = OptNeg {
            actions: Actions::CHANGE_BODY,
            ..good.clone()
        };
        assert!(matches!(
            check_answer(&offer, greedy),
            Err(ProtocolError::ActionsNotOffered { .. })
        ));
        let silent = OptNeg {
            protocol: ProtocolFlags::NR_BODY,
            ..good.clone()
        };
        assert!(matches!(
            check_answer(&offer, silent),
            Err(ProtocolError::ProtocolNotOffered { .. })
        ));
        let future = OptNeg {
            version: 7,
            ..good.clone()
        };
        assert_eq!(
            check_answer(&offer, future),
            Err(ProtocolError::UnsupportedVersion(7))
        );
        let old = OptNeg { version: 2, ..good };
        assert_eq!(check_answer(&offer, old).unwrap().version, 2);
    }
}
