//! Writing TimeStampResp, the TimeStampToken (a CMS SignedData, RFC 5652) and its TSTInfo.
//!
//! ```text
//! TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }
//! PKIStatusInfo ::= SEQUENCE { status INTEGER, statusString PKIFreeText OPTIONAL,
//!                              failInfo PKIFailureInfo OPTIONAL }
//! TSTInfo ::= SEQUENCE { version 1, policy, messageImprint, serialNumber, genTime,
//!                        accuracy OPT, ordering DEFAULT FALSE, nonce OPT, tsa [0] OPT, ... }
//! ```

use ring::rand::SecureRandom;
use yasna::{DERWriter, Tag};

use super::alg::{
    HashAlg, OID_ATTR_CONTENT_TYPE, OID_ATTR_MESSAGE_DIGEST, OID_ATTR_SIGNING_CERT_V2,
    OID_CT_TST_INFO, OID_SIGNED_DATA,
};
use super::cert::write_ecdsa_sha256;
use super::der::{self, oid, TAG_CTX0, TAG_SET};
use super::{FailureInfo, TimestampAuthority, TsaError};

/// What goes into one token besides the TSA's own identity.
pub(crate) struct TokenInput<'a> {
    pub(crate) imprint_der: &'a [u8],
    pub(crate) nonce_der: Option<&'a [u8]>,
    pub(crate) cert_req: bool,
    pub(crate) gen_time_millis: u64,
    pub(crate) serial: u128,
}

/// `TimeStampResp { status { granted } , token }`.
pub(crate) fn granted(token: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| w.next().write_u8(0));
            w.next().write_der(token);
        })
    })
}

/// `TimeStampResp { status { rejection, statusString, failInfo } }`.
pub(crate) fn rejection(fail: FailureInfo, text: &str) -> Vec<u8> {
    let bit = fail.bit();
    let mut bytes = vec![0u8; bit / 8 + 1];
    if let Some(b) = bytes.get_mut(bit / 8) {
        *b = 0x80 >> (bit % 8);
    }
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_u8(2);
                w.next()
                    .write_sequence(|w| w.next().write_utf8_string(text));
                w.next().write_bitvec_bytes(&bytes, bit + 1);
            });
        })
    })
}

/// The DER TSTInfo.
pub(crate) fn tst_info(
    tsa: &TimestampAuthority,
    input: &TokenInput<'_>,
) -> Result<Vec<u8>, TsaError> {
    if input.serial == 0 {
        return Err(TsaError::InvalidSerial);
    }
    let gen_time = der::generalized_time_millis(input.gen_time_millis)?;
    let serial = input.serial.to_be_bytes();
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(1);
            w.next().write_der(&tsa.policy_der);
            w.next().write_der(input.imprint_der);
            w.next().write_bigint_bytes(&serial, true);
            w.next().write_der(&gen_time);
            if let Some(nonce) = input.nonce_der {
                w.next().write_der(nonce);
            }
            // tsa [0] GeneralName: directoryName [4] (Name is a CHOICE, so EXPLICIT).
            w.next().write_tagged(Tag::context(0), |w| {
                w.write_tagged(Tag::context(4), |w| w.write_der(&tsa.leaf_subject_der))
            });
        })
    }))
}

/// `ContentInfo { id-signedData, [0] SignedData }` over `tst_info`, signed by the TSA leaf.
pub(crate) fn signed_token(
    tsa: &TimestampAuthority,
    tst_info: &[u8],
    cert_req: bool,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, TsaError> {
    let attrs = signed_attrs(tsa, tst_info);
    let sig = tsa
        .key
        .sign(rng, &attrs)
        .map_err(|_| TsaError::Signing("timestamp token".into()))?;
    // signedAttrs [0] IMPLICIT SET OF: the same bytes, the SET tag swapped for [0].
    let mut attrs_implicit = attrs;
    if let Some(tag) = attrs_implicit.first_mut() {
        *tag = TAG_CTX0;
    }
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_oid(&oid(OID_SIGNED_DATA));
            w.next().write_tagged(Tag::context(0), |w| {
                w.write_sequence(|w| {
                    w.next().write_u8(3);
                    w.next()
                        .write_set(|w| write_hash_alg(w.next(), HashAlg::Sha256));
                    w.next().write_sequence(|w| {
                        w.next().write_oid(&oid(OID_CT_TST_INFO));
                        w.next()
                            .write_tagged(Tag::context(0), |w| w.write_bytes(tst_info));
                    });
                    if cert_req {
                        w.next().write_tagged_implicit(Tag::context(0), |w| {
                            w.write_set_of(|w| w.next().write_der(&tsa.leaf_cert_der))
                        });
                    }
                    w.next().write_set(|w| {
                        w.next().write_sequence(|w| {
                            w.next().write_u8(1);
                            write_issuer_and_serial(w.next(), tsa);
                            write_hash_alg(w.next(), HashAlg::Sha256);
                            w.next().write_der(&attrs_implicit);
                            write_ecdsa_sha256(w.next());
                            w.next().write_bytes(sig.as_ref());
                        })
                    });
                })
            });
        })
    }))
}

/// The DER `SET OF Attribute` (tag 0x31, sorted as DER wants) that the signature covers:
/// content-type = id-ct-TSTInfo, message-digest = SHA-256(TSTInfo), and the RFC 5035
/// signing-certificate-v2 naming the leaf (its SHA-256, issuer and serial).
fn signed_attrs(tsa: &TimestampAuthority, tst_info: &[u8]) -> Vec<u8> {
    let digest = HashAlg::Sha256.digest(tst_info);
    let out = yasna::construct_der(|w| {
        w.write_set_of(|w| {
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(OID_ATTR_CONTENT_TYPE));
                w.next()
                    .write_set(|w| w.next().write_oid(&oid(OID_CT_TST_INFO)));
            });
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(OID_ATTR_MESSAGE_DIGEST));
                w.next().write_set(|w| w.next().write_bytes(&digest));
            });
            w.next().write_sequence(|w| {
                w.next().write_oid(&oid(OID_ATTR_SIGNING_CERT_V2));
                w.next().write_set(|w| {
                    // SigningCertificateV2 { certs SEQUENCE OF ESSCertIDv2 }
                    w.next().write_sequence(|w| {
                        w.next().write_sequence(|w| {
                            // ESSCertIDv2 { hashAlgorithm DEFAULT sha256 (omitted), certHash,
                            //               issuerSerial { GeneralNames, serial } }
                            w.next().write_sequence(|w| {
                                w.next().write_bytes(&tsa.leaf_sha256);
                                w.next().write_sequence(|w| {
                                    w.next().write_sequence(|w| {
                                        w.next().write_tagged(Tag::context(4), |w| {
                                            w.write_der(&tsa.leaf_issuer_der)
                                        })
                                    });
                                    w.next().write_der(&tsa.leaf_serial_der);
                                });
                            })
                        })
                    })
                });
            });
        })
    });
    debug_assert_eq!(out.first(), Some(&TAG_SET));
    out
}

fn write_issuer_and_serial(w: DERWriter<'_>, tsa: &TimestampAuthority) {
    w.write_sequence(|w| {
        w.next().write_der(&tsa.leaf_issuer_der);
        w.next().write_der(&tsa.leaf_serial_der);
    });
}

/// `AlgorithmIdentifier { hash }` with absent parameters (RFC 5754 §2: SHOULD be absent).
fn write_hash_alg(w: DERWriter<'_>, hash: HashAlg) {
    w.write_sequence(|w| w.next().write_oid(&oid(hash.oid())));
}
