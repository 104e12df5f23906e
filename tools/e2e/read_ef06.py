#!/usr/bin/python3
"""sscard e2e: read SSSE/EF06 (holder basic information) with pyscard.

Usage: /usr/bin/python3 tools/e2e/read_ef06.py "sscard VPCD 00 00"

Run it with Debian's /usr/bin/python3 (python3-pyscard); another python3 on
PATH may lack the module. Honours PCSCLITE_CSOCK_NAME (private pcscd).
Prints one "ok ..." line per check; on the first mismatch prints
"FAIL ..." with what the card returned and exits 1.
"""
import signal
import sys

signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: die by the signal, no traceback

try:
    from smartcard.System import readers
    from smartcard.Exceptions import SmartcardException
except ImportError as e:  # pragma: no cover
    print("FAIL pyscard: cannot import smartcard (%s); use /usr/bin/python3 "
          "with python3-pyscard installed" % e)
    sys.exit(2)

SSSE_AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")


def hx(b):
    return " ".join("%02X" % x for x in b) if b else "(none)"


class Fail(Exception):
    pass


def transmit(conn, apdu):
    data, sw1, sw2 = conn.transmit(list(apdu))
    return bytes(data), (sw1 << 8) | sw2


def ok(msg):
    print("ok   pyscard: " + msg, flush=True)


def expect_sw(what, apdu, got_sw, want=0x9000, data=b""):
    if got_sw != want:
        raise Fail("%s: APDU %s -> SW %04X, want %04X (data %s)"
                   % (what, hx(apdu), got_sw, want, hx(data)))


def main():
    if len(sys.argv) != 2:
        print("usage: read_ef06.py READER_NAME", file=sys.stderr)
        return 2
    name = sys.argv[1]
    found = [r for r in readers() if str(r) == name]
    if not found:
        raise Fail("reader %r not found; readers: %s" % (name, [str(r) for r in readers()]))
    conn = found[0].createConnection()
    conn.connect()
    try:
        # SELECT SSSE by name; follow 61xx with GET RESPONSE.
        apdu = bytes([0x00, 0xA4, 0x04, 0x00, len(SSSE_AID)]) + SSSE_AID
        data, sw = transmit(conn, apdu)
        if sw >> 8 == 0x61:
            gr = bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF])
            data, sw = transmit(conn, gr)
            expect_sw("GET RESPONSE after SELECT SSSE", gr, sw, data=data)
        else:
            expect_sw("SELECT SSSE", apdu, sw, data=data)
        if len(data) < 2 or data[0] != 0x6F or data[1] + 2 != len(data) or (b"\x84\x0f" + SSSE_AID) not in data:
            raise Fail("SSSE FCI is not 6F <len> { 84 0F <AID> ... }: %s" % hx(data))
        ok("SELECT SSSE by name -> FCI %s" % hx(data))

        apdu = bytes.fromhex("00A4020002EF06")
        data, sw = transmit(conn, apdu)
        expect_sw("SELECT EF06", apdu, sw, data=data)
        ok("SELECT EF06 -> 90 00")

        def read(p1, p2, le, label):
            apdu = bytes([0x00, 0xB2, p1, p2, le])
            data, sw = transmit(conn, apdu)
            expect_sw("READ RECORD %s" % label, apdu, sw, data=data)
            return apdu, data

        def tlv(tag, value_len, apdu, data, label):
            if len(data) != value_len + 2 or data[0] != tag or data[1] != value_len:
                raise Fail("READ RECORD %s: APDU %s -> %s, want TLV %02X %02X + %d bytes"
                           % (label, hx(apdu), hx(data), tag, value_len, value_len))
            return data[2:]

        # tag 08: social security number, 18 ASCII
        apdu, d08 = read(0x08, 0x00, 0x14, "tag 08")
        v = tlv(0x08, 18, apdu, d08, "tag 08")
        if v != b"330102199003071230":
            raise Fail("tag 08 (ssn): got %s (%r), want '330102199003071230'" % (hx(v), v))
        ok("tag 08 ssn = %s" % v.decode("ascii"))

        # tag 09: name, 30 bytes GBK, 00-padded
        apdu, d = read(0x09, 0x00, 0x20, "tag 09")
        v = tlv(0x09, 30, apdu, d, "tag 09")
        want = bytes.fromhex("C0EEB2E2CAD4") + bytes(24)
        if v != want:
            raise Fail("tag 09 (name): got %s, want %s" % (hx(v), hx(want)))
        text = v.decode("gbk").rstrip("\0")
        if text != "李测试":
            raise Fail("tag 09 (name): decoded %r, want '李测试'" % text)
        ok("tag 09 name = %s (GBK, 00-padded to 30)" % text)

        # tag 0A: sex, 1 ASCII digit
        apdu, d = read(0x0A, 0x00, 0x03, "tag 0A")
        v = tlv(0x0A, 1, apdu, d, "tag 0A")
        if v != b"1":
            raise Fail("tag 0A (sex): got %s, want 31 ('1')" % hx(v))
        ok("tag 0A sex = '1'")

        # tag 0B: ethnicity, BCD 01
        apdu, d = read(0x0B, 0x00, 0x03, "tag 0B")
        v = tlv(0x0B, 1, apdu, d, "tag 0B")
        if v != b"\x01":
            raise Fail("tag 0B (ethnicity): got %s, want 01" % hx(v))
        ok("tag 0B ethnicity = 01")

        # tag 0D: birth date, BCD YYYYMMDD
        apdu, d = read(0x0D, 0x00, 0x06, "tag 0D")
        v = tlv(0x0D, 4, apdu, d, "tag 0D")
        if v != bytes.fromhex("19900307"):
            raise Fail("tag 0D (birth date): got %s, want 19 90 03 07" % hx(v))
        ok("tag 0D birth date = 19900307")

        # record 1 by number (P2=04) is the tag-08 TLV
        apdu, d = read(0x01, 0x04, 0x14, "record 1")
        if d != d08:
            raise Fail("record 1 by number: APDU %s -> %s, want the tag-08 TLV %s"
                       % (hx(apdu), hx(d), hx(d08)))
        ok("record 1 by number == tag 08 TLV")
    finally:
        try:
            conn.disconnect()
        except SmartcardException:
            pass
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print("FAIL pyscard: %s" % e, flush=True)
        sys.exit(1)
    except SmartcardException as e:
        print("FAIL pyscard: PC/SC error: %s" % e, flush=True)
        sys.exit(1)
