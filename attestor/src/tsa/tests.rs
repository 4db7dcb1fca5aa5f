//! Table tests: what `respond` answers to every kind of bad request, what tokens hold, the DER
//! helpers.

use ring::rand::SystemRandom;
use yasna::models::ObjectIdentifier;
use yasna::Tag;

use super::der::{self, Reader, TAG_BIT_STRING, TAG_INTEGER, TAG_SEQUENCE};
use super::verify::{signed_data, token_of, tst_info};
use super::*;

const NOT_BEFORE: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const GEN: u64 = 1_780_000_000_000;

fn tsa() -> (TimestampAuthority, TsaMaterial) {
    TimestampAuthority::create("Table TSA", NOT_BEFORE, &SystemRandom::new()).unwrap()
}

/// (status, failInfo bit) of a TimeStampResp.
fn status(resp: &[u8]) -> (u64, Option<usize>) {
    let outer = der::read_one(resp, TAG_SEQUENCE, "resp").unwrap();
    let mut r = Reader::new(outer.content);
    let info = r.expect(TAG_SEQUENCE, "status").unwrap();
    let mut r = Reader::new(info.content);
    let code = der::small_uint(&r.expect(TAG_INTEGER, "s").unwrap(), "s").unwrap();
    let _text = r.optional(TAG_SEQUENCE, "text").unwrap();
    let bit = r.optional(TAG_BIT_STRING, "fail").unwrap().map(|b| {
        let (unused, bytes) = b.content.split_first().unwrap();
        let bits: Vec<usize> = (0..bytes.len() * 8 - usize::from(*unused))
            .filter(|i| bytes[i / 8] & (0x80 >> (i % 8)) != 0)
            .collect();
        assert_eq!(bits.len(), 1, "exactly one failure bit");
        bits[0]
    });
    (code, bit)
}

/// A TimeStampReq from parts: version, hash OID, digest length, and what follows the imprint.
fn req(version: i64, hash: &[u64], digest_len: usize, tail: &[Vec<u8>]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_i64(version);
            w.next().write_sequence(|w| {
                w.next().write_sequence(|w| {
                    w.next().write_oid(&ObjectIdentifier::from_slice(hash));
                    w.next().write_null();
                });
                w.next().write_bytes(&vec![0xab; digest_len]);
            });
            for t in tail {
                w.next().write_der(t);
            }
        })
    })
}

const SHA256: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 2, 1];
const SHA512: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 2, 3];
const SHA1: &[u64] = &[1, 3, 14, 3, 2, 26];
const MD5: &[u64] = &[1, 2, 840, 113_549, 2, 5];

#[test]
fn bad_requests_get_the_right_rejection_never_an_error() {
    let (tsa, _) = tsa();
    let rng = SystemRandom::new();
    let good = request_for(b"m", Some(5), true);
    let mut trailing = good.clone();
    trailing.push(0);
    let ber = {
        // The same request with an indefinite outer length (BER, not DER).
        let mut v = vec![0x30, 0x80];
        v.extend_from_slice(&good[2..]);
        v.extend_from_slice(&[0, 0]);
        v
    };
    let policy =
        |o: &[u64]| yasna::construct_der(|w| w.write_oid(&ObjectIdentifier::from_slice(o)));
    let nonce = |n: usize| der::tlv(TAG_INTEGER, &vec![0x11; n]);
    let bool_der = |b: u8| vec![0x01, 0x01, b];
    let ext = yasna::construct_der(|w| {
        w.write_tagged_implicit(Tag::context(0), |w| {
            w.write_sequence(|w| {
                w.next().write_sequence(|w| {
                    w.next()
                        .write_oid(&ObjectIdentifier::from_slice(&[1, 2, 3]));
                    w.next().write_bytes(b"x");
                })
            })
        })
    });
    let bad_req = FailureInfo::BadRequest.bit();
    type Case = (&'static str, Vec<u8>, (u64, Option<usize>));
    let cases: Vec<Case> = vec![
        ("empty", vec![], (2, Some(bad_req))),
        (
            "garbage",
            b"GET / HTTP/1.1\r\n".to_vec(),
            (2, Some(bad_req)),
        ),
        ("a lone SEQUENCE tag", vec![0x30], (2, Some(bad_req))),
        ("trailing byte", trailing, (2, Some(bad_req))),
        ("BER indefinite length", ber, (2, Some(bad_req))),
        (
            "huge",
            vec![0x30; request::MAX_REQUEST_LEN + 1],
            (2, Some(bad_req)),
        ),
        ("version 2", req(2, SHA256, 32, &[]), (2, Some(bad_req))),
        ("version -1", req(-1, SHA256, 32, &[]), (2, Some(bad_req))),
        (
            "SHA-1",
            req(1, SHA1, 20, &[]),
            (2, Some(FailureInfo::BadAlg.bit())),
        ),
        (
            "MD5",
            req(1, MD5, 16, &[]),
            (2, Some(FailureInfo::BadAlg.bit())),
        ),
        (
            "made-up hash",
            req(1, &[1, 2, 3, 4], 32, &[]),
            (2, Some(FailureInfo::BadAlg.bit())),
        ),
        (
            "SHA-256, 20 bytes",
            req(1, SHA256, 20, &[]),
            (2, Some(FailureInfo::BadDataFormat.bit())),
        ),
        (
            "SHA-256, 33 bytes",
            req(1, SHA256, 33, &[]),
            (2, Some(FailureInfo::BadDataFormat.bit())),
        ),
        (
            "SHA-512, 32 bytes",
            req(1, SHA512, 32, &[]),
            (2, Some(FailureInfo::BadDataFormat.bit())),
        ),
        (
            "Sigstore's policy",
            req(1, SHA256, 32, &[policy(&[1, 3, 6, 1, 4, 1, 57264, 2])]),
            (2, Some(FailureInfo::UnacceptedPolicy.bit())),
        ),
        (
            "our policy",
            req(
                1,
                SHA256,
                32,
                &[der::oid_der_dotted(STELLA_TSA_POLICY).unwrap()],
            ),
            (0, None),
        ),
        (
            "extensions",
            req(1, SHA256, 32, &[ext]),
            (2, Some(FailureInfo::UnacceptedExtension.bit())),
        ),
        (
            "65-byte nonce",
            req(1, SHA256, 32, &[nonce(65)]),
            (2, Some(bad_req)),
        ),
        ("64-byte nonce", req(1, SHA256, 32, &[nonce(64)]), (0, None)),
        (
            "non-minimal nonce",
            req(1, SHA256, 32, &[der::tlv(TAG_INTEGER, &[0, 1])]),
            (2, Some(bad_req)),
        ),
        (
            "certReq FALSE spelled out",
            req(1, SHA256, 32, &[bool_der(0)]),
            (0, None),
        ),
        (
            "certReq 0x01 (BER true)",
            req(1, SHA256, 32, &[bool_der(1)]),
            (2, Some(bad_req)),
        ),
        (
            "fields out of order",
            req(1, SHA256, 32, &[bool_der(0xff), nonce(8)]),
            (2, Some(bad_req)),
        ),
        ("good", good, (0, None)),
    ];
    for (name, request, want) in cases {
        let resp = tsa
            .respond(&request, GEN, 9, &rng)
            .unwrap_or_else(|e| panic!("{name}: Err {e}"));
        assert_eq!(status(&resp), want, "{name}");
    }
    // Every truncation of a good request is refused, none is an error.
    let good = request_for(b"m", Some(u64::MAX), true);
    for n in 0..good.len() {
        let resp = tsa.respond(&good[..n], GEN, 9, &rng).unwrap();
        assert_eq!(status(&resp), (2, Some(bad_req)), "truncated to {n}");
    }
}

#[test]
fn the_token_echoes_imprint_and_nonce_and_embeds_the_leaf_only_on_cert_req() {
    let (tsa, m) = tsa();
    let rng = SystemRandom::new();
    for (nonce, cert_req) in [
        (None, false),
        (Some(0), true),
        (Some(u64::MAX), false),
        (Some(0x0102), true),
    ] {
        let request = request_for(b"msg", nonce, cert_req);
        let resp = tsa.respond(&request, GEN, u128::MAX, &rng).unwrap();
        let token = token_of(&resp).unwrap();
        let sd = signed_data(token).unwrap();
        assert_eq!(sd.certs.len(), usize::from(cert_req));
        if cert_req {
            assert_eq!(sd.certs[0], m.leaf_cert_der.as_slice());
        }
        let tst = tst_info(sd.tst_info).unwrap();
        assert_eq!(tst.policy, STELLA_TSA_POLICY);
        assert_eq!(tst.imprint, alg::HashAlg::Sha256.digest(b"msg").as_slice());
        let want_nonce = nonce.map(|n| yasna::construct_der(|w| w.write_u64(n))[2..].to_vec());
        assert_eq!(tst.nonce.map(<[u8]>::to_vec), want_nonce);
        let mut serial = vec![0];
        serial.extend_from_slice(&u128::MAX.to_be_bytes());
        assert_eq!(tst.serial, serial.as_slice());
        assert_eq!(tst.gen_time_millis, GEN);
        let v = verify_timestamp(
            &resp,
            b"msg",
            std::slice::from_ref(&m.root_cert_der),
            std::slice::from_ref(&m.leaf_cert_der),
        )
        .unwrap();
        assert_eq!(v.serial, serial);
    }
}

#[test]
fn tsa_failures_are_errors() {
    let (tsa, _) = tsa();
    let rng = SystemRandom::new();
    assert!(matches!(
        tsa.timestamp_message(b"m", GEN, 0, &rng),
        Err(TsaError::InvalidSerial)
    ));
    assert!(matches!(
        tsa.timestamp_message(b"m", (der::MAX_TIME + 1) * 1000, 1, &rng),
        Err(TsaError::InvalidTime(_))
    ));
    for name in ["", "a\nb", &"x".repeat(65)] {
        assert!(
            matches!(
                TimestampAuthority::create(name, 0, &rng),
                Err(TsaError::InvalidName(_))
            ),
            "{name:?}"
        );
    }
    assert!(matches!(
        TimestampAuthority::create("late", der::MAX_TIME - 10, &rng),
        Err(TsaError::InvalidTime(_))
    ));
}

#[test]
fn material_is_checked_on_load() {
    let (_, m) = tsa();
    let (_, other) = tsa();
    let swapped_key = TsaMaterial {
        leaf_pkcs8: other.leaf_pkcs8.clone(),
        ..m.clone()
    };
    assert!(matches!(
        TimestampAuthority::from_material(&swapped_key),
        Err(TsaError::KeyMismatch)
    ));
    let swapped_root = TsaMaterial {
        root_cert_der: other.root_cert_der.clone(),
        ..m.clone()
    };
    assert!(matches!(
        TimestampAuthority::from_material(&swapped_root),
        Err(TsaError::BadCertificate(_))
    ));
    let garbage = TsaMaterial {
        leaf_cert_der: b"junk".to_vec(),
        ..m.clone()
    };
    assert!(TimestampAuthority::from_material(&garbage).is_err());
    assert!(!format!("{m:?}").contains(&format!("{:?}", &m.leaf_pkcs8[..8])));
}

#[test]
fn gen_time_is_der_generalized_time_with_millis_only_when_not_zero() {
    let cases = [
        (0, "19700101000000Z"),
        (1_000, "19700101000001Z"),
        (1_500, "19700101000001.5Z"),
        (1_250, "19700101000001.25Z"),
        (1_001, "19700101000001.001Z"),
        (1_780_000_000_123, "20260528202640.123Z"),
        (951_782_400_000, "20000229000000Z"),
        (der::MAX_TIME * 1000 + 999, "99991231235959.999Z"),
    ];
    for (millis, text) in cases {
        let tlv = der::generalized_time_millis(millis).unwrap();
        assert_eq!(&tlv[2..], text.as_bytes(), "{millis}");
        assert_eq!(
            der::parse_generalized_time_millis(text.as_bytes()).unwrap(),
            millis,
            "{text}"
        );
    }
    for bad in [
        "",
        "Z",
        "20260528202640",
        "20260528202640.Z",
        "20260528202640.10Z",
        "20261328202640Z",
        "20260230202640Z",
        "20260528246040Z",
        "2026052820264Z",
        "20260528202640+0100",
        "1969123123595 9Z",
        "20260528202640.1234567890Z",
    ] {
        assert!(
            der::parse_generalized_time_millis(bad.as_bytes()).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn oids_round_trip_including_uuid_arcs() {
    for dotted in [
        STELLA_TSA_POLICY,
        "1.3.6.1.4.1.57264.2",
        "2.16.840.1.101.3.4.2.1",
        "0.9",
        "2.999.1",
    ] {
        let der = der::oid_der_dotted(dotted).unwrap();
        let (tlv, rest) = der::read_tlv(&der, "oid").unwrap();
        assert!(rest.is_empty());
        assert_eq!(der::oid_to_string(tlv.content, "oid").unwrap(), dotted);
    }
    assert_eq!(
        der::oid_der_dotted("1.3.6.1.4.1.57264.2").unwrap(),
        der::oid_der(&[1, 3, 6, 1, 4, 1, 57264, 2])
    );
    for bad in ["", "1", "3.1", "1.40", "1..2", "a.b"] {
        assert!(der::oid_der_dotted(bad).is_none(), "{bad:?}");
    }
    for bad in [&[][..], &[0x80, 0x01], &[0x2b, 0x86]] {
        assert!(der::oid_to_string(bad, "oid").is_err(), "{bad:?}");
    }
}

#[test]
fn rejections_say_why() {
    let (tsa, _) = tsa();
    let resp = tsa
        .respond(&req(1, SHA1, 20, &[]), GEN, 1, &SystemRandom::new())
        .unwrap();
    let text = String::from_utf8_lossy(&resp);
    assert!(
        text.contains("accepted: SHA-256, SHA-384, SHA-512"),
        "{text}"
    );
    assert!(matches!(
        verify_timestamp(&resp, b"m", &[], &[]),
        Err(TsaError::NotGranted(2))
    ));
}
