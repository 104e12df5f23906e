//! The vpcd bridge against a loopback stand-in for pcscd's vpcd driver: framing,
//! control messages, sessions and reconnection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sscard_emu::{sample_card, Runtime, VpcdBridge};

/// What vpcd does: send a frame, read the answer frame.
fn exchange(s: &mut TcpStream, payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    s.write_all(&frame).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    body
}

fn send_only(s: &mut TcpStream, payload: &[u8]) {
    let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    s.write_all(&frame).unwrap();
}

#[test]
fn bridge_speaks_vpcd() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let bridge = std::thread::spawn(move || {
        let mut b = VpcdBridge::new(Runtime::new(sample_card().unwrap()), addr);
        b.run(&stop2).unwrap();
        b.stats()
    });

    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Get ATR.
    let atr = exchange(&mut s, &[0x04]);
    assert_eq!(atr[..2], [0x3B, 0x6D]);
    send_only(&mut s, &[0x01]);
    let select =
        b"\x00\xA4\x04\x00\x0F\x73\x78\x31\x2E\x73\x68\x2E\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF";
    assert_eq!(exchange(&mut s, select), [0x61, 0x1B]);
    assert_eq!(
        exchange(&mut s, &[0x00, 0xA4, 0x02, 0x00, 0x02, 0xEF, 0x05]),
        [0x90, 0x00]
    );
    let rec = exchange(&mut s, &[0x00, 0xB2, 0x07, 0x04, 0x0B]);
    assert_eq!(&rec[..2], &[0x07, 0x09]);
    assert_eq!(&rec[11..], &[0x90, 0x00]);
    // Reset: a fresh session, no current EF.
    send_only(&mut s, &[0x02]);
    assert_eq!(
        exchange(&mut s, &[0x00, 0xB2, 0x07, 0x04, 0x0B]),
        [0x69, 0x86]
    );
    // A 2-byte "APDU" still gets a status word, never an empty frame.
    assert_eq!(exchange(&mut s, &[0x00, 0xA4]), [0x67, 0x00]);
    // Unknown control byte: no answer, the next exchange still lines up.
    send_only(&mut s, &[0x07]);
    assert_eq!(exchange(&mut s, &[0x04]).len(), 17);

    // pcscd restarts: the card reconnects and starts a fresh session.
    drop(s);
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    send_only(&mut s, &[0x01]);
    assert_eq!(
        exchange(&mut s, &[0x00, 0xB2, 0x07, 0x04, 0x0B]),
        [0x69, 0x86]
    );

    stop.store(true, Ordering::Relaxed);
    let stats = bridge.join().unwrap();
    assert_eq!(stats.connections, 2);
    assert_eq!(stats.apdus, 6);
}

#[test]
fn bridge_waits_for_vpcd_and_stops() {
    // A port with nobody listening: the bridge keeps retrying until stopped.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let bridge = std::thread::spawn(move || {
        let mut b = VpcdBridge::new(Runtime::new(sample_card().unwrap()), port);
        b.run(&stop2).map(|_| b.stats())
    });
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let stats = bridge.join().unwrap().unwrap();
    assert_eq!(stats.connections, 0);
}
