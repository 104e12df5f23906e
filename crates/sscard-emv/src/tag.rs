//! The EMV / PBOC tag dictionary (spec/pboc.md §1.7): a name and a data format for each
//! tag the kernel or the applet handles. Formats decide how a DOL pads or truncates a
//! value ([`crate::dol`]).

use core::fmt;

/// A BER-TLV tag (up to 4 bytes, big-endian in a `u32`, as `sscard_apdu::tlv::ber`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(pub u32);

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({:X})", self.0)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}", self.0)
    }
}

/// The data format of a tag's value (EMV Book 3 Annex A notation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `n`: BCD digits, right-justified, padded on the left with zeros.
    Numeric,
    /// `cn`: compressed numeric, left-justified, padded on the right with `F`.
    CompressedNumeric,
    /// `a`, `an`, `ans`: characters, left-justified, padded on the right.
    Text,
    /// `b`: binary.
    Binary,
}

macro_rules! tags {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $fmt:ident, $label:literal;)*) => {
        impl Tag {
            $($(#[$doc])* pub const $name: Tag = Tag($value);)*
        }

        /// Name and format of a known tag.
        pub fn describe(tag: Tag) -> Option<(&'static str, Format)> {
            match tag.0 {
                $($value => Some(($label, Format::$fmt)),)*
                _ => None,
            }
        }
    };
}

tags! {
    /// Application identifier (ADF name) in a directory entry.
    AID = 0x4F, Binary, "Application Identifier (AID)";
    /// Application label.
    APP_LABEL = 0x50, Text, "Application Label";
    /// Track 2 equivalent data.
    TRACK2 = 0x57, Binary, "Track 2 Equivalent Data";
    /// Application primary account number.
    PAN = 0x5A, CompressedNumeric, "Application PAN";
    /// Application expiration date (YYMMDD).
    EXPIRY = 0x5F24, Numeric, "Application Expiration Date";
    /// Application effective date (YYMMDD).
    EFFECTIVE = 0x5F25, Numeric, "Application Effective Date";
    /// Issuer country code.
    ISSUER_COUNTRY = 0x5F28, Numeric, "Issuer Country Code";
    /// Transaction currency code.
    TXN_CURRENCY = 0x5F2A, Numeric, "Transaction Currency Code";
    /// Language preference.
    LANGUAGE = 0x5F2D, Text, "Language Preference";
    /// PAN sequence number.
    PSN = 0x5F34, Numeric, "PAN Sequence Number";
    /// Directory entry template.
    DIR_ENTRY = 0x61, Binary, "Application Template";
    /// FCI template.
    FCI = 0x6F, Binary, "FCI Template";
    /// READ RECORD response template.
    RECORD = 0x70, Binary, "Record Template";
    /// Issuer script template 1 (before the second GENERATE AC).
    SCRIPT_71 = 0x71, Binary, "Issuer Script Template 1";
    /// Issuer script template 2 (after the second GENERATE AC).
    SCRIPT_72 = 0x72, Binary, "Issuer Script Template 2";
    /// Response message template format 2.
    RMT2 = 0x77, Binary, "Response Message Template Format 2";
    /// Response message template format 1.
    RMT1 = 0x80, Binary, "Response Message Template Format 1";
    /// Application interchange profile.
    AIP = 0x82, Binary, "Application Interchange Profile";
    /// Command template (GPO data).
    COMMAND_TEMPLATE = 0x83, Binary, "Command Template";
    /// Dedicated file name.
    DF_NAME = 0x84, Binary, "DF Name";
    /// Issuer script command.
    SCRIPT_COMMAND = 0x86, Binary, "Issuer Script Command";
    /// Application priority indicator.
    PRIORITY = 0x87, Binary, "Application Priority Indicator";
    /// Short file identifier.
    SFI = 0x88, Binary, "Short File Identifier";
    /// Authorisation response code.
    ARC = 0x8A, Text, "Authorisation Response Code";
    /// CDOL1.
    CDOL1 = 0x8C, Binary, "CDOL1";
    /// CDOL2.
    CDOL2 = 0x8D, Binary, "CDOL2";
    /// CVM list.
    CVM_LIST = 0x8E, Binary, "CVM List";
    /// Certification authority public key index.
    CA_INDEX = 0x8F, Binary, "CA Public Key Index";
    /// Issuer public key certificate.
    ISSUER_CERT = 0x90, Binary, "Issuer Public Key Certificate";
    /// Issuer authentication data (ARPC ‖ ARC).
    ISSUER_AUTH_DATA = 0x91, Binary, "Issuer Authentication Data";
    /// Issuer public key remainder.
    ISSUER_PK_REMAINDER = 0x92, Binary, "Issuer Public Key Remainder";
    /// Signed static application data.
    SSAD = 0x93, Binary, "Signed Static Application Data";
    /// Application file locator.
    AFL = 0x94, Binary, "Application File Locator";
    /// Terminal verification results.
    TVR = 0x95, Binary, "Terminal Verification Results";
    /// Transaction date (YYMMDD).
    TXN_DATE = 0x9A, Numeric, "Transaction Date";
    /// Transaction status information.
    TSI = 0x9B, Binary, "Transaction Status Information";
    /// Transaction type.
    TXN_TYPE = 0x9C, Numeric, "Transaction Type";
    /// Amount, authorised.
    AMOUNT = 0x9F02, Numeric, "Amount, Authorised";
    /// Amount, other.
    AMOUNT_OTHER = 0x9F03, Numeric, "Amount, Other";
    /// Application usage control.
    AUC = 0x9F07, Binary, "Application Usage Control";
    /// Application version number (card).
    APP_VERSION_CARD = 0x9F08, Binary, "Application Version Number (card)";
    /// Application version number (terminal).
    APP_VERSION_TERMINAL = 0x9F09, Binary, "Application Version Number (terminal)";
    /// Issuer action code, default.
    IAC_DEFAULT = 0x9F0D, Binary, "Issuer Action Code - Default";
    /// Issuer action code, denial.
    IAC_DENIAL = 0x9F0E, Binary, "Issuer Action Code - Denial";
    /// Issuer action code, online.
    IAC_ONLINE = 0x9F0F, Binary, "Issuer Action Code - Online";
    /// Issuer application data.
    IAD = 0x9F10, Binary, "Issuer Application Data";
    /// Issuer code table index.
    CODE_TABLE = 0x9F11, Numeric, "Issuer Code Table Index";
    /// Application preferred name.
    PREFERRED_NAME = 0x9F12, Text, "Application Preferred Name";
    /// Last online ATC register.
    LAST_ONLINE_ATC = 0x9F13, Binary, "Last Online ATC Register";
    /// Lower consecutive offline limit.
    LCOL = 0x9F14, Binary, "Lower Consecutive Offline Limit";
    /// PIN try counter.
    PIN_TRY_COUNTER = 0x9F17, Binary, "PIN Try Counter";
    /// Issuer script identifier.
    SCRIPT_ID = 0x9F18, Binary, "Issuer Script Identifier";
    /// Terminal country code.
    TERMINAL_COUNTRY = 0x9F1A, Numeric, "Terminal Country Code";
    /// Terminal floor limit.
    FLOOR_LIMIT = 0x9F1B, Binary, "Terminal Floor Limit";
    /// Transaction time (HHMMSS).
    TXN_TIME = 0x9F21, Numeric, "Transaction Time";
    /// Upper consecutive offline limit.
    UCOL = 0x9F23, Binary, "Upper Consecutive Offline Limit";
    /// Application cryptogram.
    AC = 0x9F26, Binary, "Application Cryptogram";
    /// Cryptogram information data.
    CID = 0x9F27, Binary, "Cryptogram Information Data";
    /// Issuer public key exponent.
    ISSUER_PK_EXPONENT = 0x9F32, Binary, "Issuer Public Key Exponent";
    /// Terminal capabilities.
    TERMINAL_CAPABILITIES = 0x9F33, Binary, "Terminal Capabilities";
    /// CVM results.
    CVM_RESULTS = 0x9F34, Binary, "CVM Results";
    /// Terminal type.
    TERMINAL_TYPE = 0x9F35, Numeric, "Terminal Type";
    /// Application transaction counter.
    ATC = 0x9F36, Binary, "Application Transaction Counter";
    /// Unpredictable number.
    UNPREDICTABLE_NUMBER = 0x9F37, Binary, "Unpredictable Number";
    /// Processing options data object list.
    PDOL = 0x9F38, Binary, "PDOL";
    /// Additional terminal capabilities.
    ADDITIONAL_CAPABILITIES = 0x9F40, Binary, "Additional Terminal Capabilities";
    /// Transaction sequence counter.
    TXN_SEQUENCE = 0x9F41, Numeric, "Transaction Sequence Counter";
    /// Application currency code.
    APP_CURRENCY = 0x9F42, Numeric, "Application Currency Code";
    /// Data authentication code (from SDA).
    DAC = 0x9F45, Binary, "Data Authentication Code";
    /// ICC public key certificate.
    ICC_CERT = 0x9F46, Binary, "ICC Public Key Certificate";
    /// ICC public key exponent.
    ICC_PK_EXPONENT = 0x9F47, Binary, "ICC Public Key Exponent";
    /// ICC public key remainder.
    ICC_PK_REMAINDER = 0x9F48, Binary, "ICC Public Key Remainder";
    /// Dynamic data authentication DOL.
    DDOL = 0x9F49, Binary, "DDOL";
    /// Static data authentication tag list.
    SDA_TAG_LIST = 0x9F4A, Binary, "SDA Tag List";
    /// Signed dynamic application data.
    SDAD = 0x9F4B, Binary, "Signed Dynamic Application Data";
    /// ICC dynamic number.
    ICC_DYNAMIC_NUMBER = 0x9F4C, Binary, "ICC Dynamic Number";
    /// Log entry (transaction log SFI ‖ record count).
    LOG_ENTRY = 0x9F4D, Binary, "Log Entry";
    /// Merchant name and location.
    MERCHANT_NAME = 0x9F4E, Text, "Merchant Name and Location";
    /// Log format.
    LOG_FORMAT = 0x9F4F, Binary, "Log Format";
    /// Application currency code (EC).
    EC_CURRENCY = 0x9F51, Numeric, "Application Currency Code (EC)";
    /// Issuer authentication indicator.
    ISSUER_AUTH_INDICATOR = 0x9F56, Binary, "Issuer Authentication Indicator";
    /// Available offline spending amount.
    AOSA = 0x9F5D, Numeric, "Available Offline Spending Amount";
    /// Cardholder ID number.
    CARDHOLDER_ID = 0x9F61, Text, "Cardholder ID Number";
    /// Cardholder ID type.
    CARDHOLDER_ID_TYPE = 0x9F62, Numeric, "Cardholder ID Type";
    /// Terminal transaction qualifiers (qPBOC).
    TTQ = 0x9F66, Binary, "Terminal Transaction Qualifiers";
    /// Card authentication related data (fDDA).
    CARD_AUTH_DATA = 0x9F69, Binary, "Card Authentication Related Data";
    /// Card transaction qualifiers (qPBOC).
    CTQ = 0x9F6C, Binary, "Card Transaction Qualifiers";
    /// EC reset threshold.
    EC_RESET_THRESHOLD = 0x9F6D, Numeric, "EC Reset Threshold";
    /// EC issuer authorisation code.
    EC_AUTH_CODE = 0x9F74, Text, "EC Issuer Authorisation Code";
    /// EC balance limit.
    EC_BALANCE_LIMIT = 0x9F77, Numeric, "EC Balance Limit";
    /// EC single transaction limit.
    EC_SINGLE_LIMIT = 0x9F78, Numeric, "EC Single Transaction Limit";
    /// EC balance.
    EC_BALANCE = 0x9F79, Numeric, "EC Balance";
    /// EC terminal support indicator.
    EC_TERMINAL_SUPPORT = 0x9F7A, Binary, "EC Terminal Support Indicator";
    /// EC terminal transaction limit.
    EC_TERMINAL_LIMIT = 0x9F7B, Numeric, "EC Terminal Transaction Limit";
    /// Issuer script results (PBOC).
    SCRIPT_RESULTS = 0xDF31, Binary, "Issuer Script Results";
    /// Load log entry (SFI ‖ record count).
    LOAD_LOG_ENTRY = 0xDF4D, Binary, "Load Log Entry";
    /// Load log format.
    LOAD_LOG_FORMAT = 0xDF4F, Binary, "Load Log Format";
    /// SM algorithm support indicator (terminal → card; 01 = SM family).
    SM_SUPPORT = 0xDF69, Binary, "SM Algorithm Support Indicator";
    /// FCI proprietary template.
    FCI_PROPRIETARY = 0xA5, Binary, "FCI Proprietary Template";
    /// FCI issuer discretionary data.
    FCI_DISCRETIONARY = 0xBF0C, Binary, "FCI Issuer Discretionary Data";
}

impl Tag {
    /// The dictionary name, if the tag is known.
    pub fn name(self) -> Option<&'static str> {
        describe(self).map(|(name, _)| name)
    }

    /// The dictionary format; unknown tags are binary.
    pub fn format(self) -> Format {
        describe(self).map_or(Format::Binary, |(_, format)| format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_tags() {
        assert_eq!(Tag::AMOUNT.format(), Format::Numeric);
        assert_eq!(Tag::PAN.format(), Format::CompressedNumeric);
        assert_eq!(Tag::MERCHANT_NAME.format(), Format::Text);
        assert_eq!(Tag(0x9F7F).format(), Format::Binary);
        assert_eq!(Tag::EC_BALANCE.name(), Some("EC Balance"));
        assert_eq!(Tag(0xDFFF).name(), None);
        assert_eq!(format!("{}", Tag::SM_SUPPORT), "DF69");
    }
}
