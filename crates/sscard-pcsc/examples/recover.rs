//! Context recovery check, driven by `tools/e2e/recover.sh`: lists the readers and
//! selects SSSE on `<reader>`, waits for a line on stdin (the harness restarts pcscd
//! meanwhile), then does the same again with the same `Readers` value, which must
//! re-establish its PC/SC context by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::BufRead;
use std::time::Duration;

use sscard_apdu::Transport;
use sscard_pcsc::Readers;

const SELECT_SSSE: &[u8] =
    b"\x00\xA4\x04\x00\x0F\x73\x78\x31\x2E\x73\x68\x2E\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF";

fn round(readers: &mut Readers, reader: &str, label: &str) {
    let result = (|| {
        let names = readers.list()?;
        let name = readers.wait_for_card(Some(reader), Duration::from_secs(5))?;
        let mut card = readers.connect(&name)?;
        let mut buf = [0u8; 258];
        let n = card.transmit(SELECT_SSSE, &mut buf)?;
        Ok::<_, sscard_pcsc::PcscError>((names.len(), buf[n - 2], buf[n - 1]))
    })();
    match result {
        Ok((count, sw1, sw2)) => {
            println!("{label}: {count} readers, SELECT SSSE -> {sw1:02X}{sw2:02X}")
        }
        Err(e) => println!("{label}: error: {e}"),
    }
}

fn main() {
    let reader = std::env::args().nth(1).expect("usage: recover <reader>");
    let mut readers = Readers::new();
    round(&mut readers, &reader, "before");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
    round(&mut readers, &reader, "after");
}
