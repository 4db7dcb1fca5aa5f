//! The Authority, licensing and Signer over real HTTP on loopback.

use ring::hmac;
use serde_json::{json, Value};
use signer_gateway::dsse::Envelope;
use signer_gateway::jose::b64url_encode;
use std::future::IntoFuture as _;

use crate::harness::*;

#[tokio::test]
async fn github_and_gitlab_jobs_get_signed_statements() {
    let h = Harness::start().await;
    let (license_id, lt) = h.license("team");
    for (ci, image) in [
        (
            h.github
                .sign(json!({}), &h.github.github_claims(GITHUB_AUD)),
            IMAGE,
        ),
        (
            h.gitlab
                .sign(json!({}), &h.gitlab.gitlab_claims("https://stella.example")),
            "registry.example/my-group/my-project",
        ),
    ] {
        let c = Client::new(&h.url);
        let optok = c.optok(&ci).await;
        let poe = c.poe(&lt).await;
        let a = c.sign(&optok, Some(&poe), &statement(image, SPDX)).await;
        assert_eq!(a.status, 200, "{a:?}");
        let env = Envelope::from_json(&a.body["envelope"]).unwrap();
        env.verify_p256(&spki_from_pem(a.body["public_key"].as_str().unwrap()))
            .unwrap();
        let st: Value = serde_json::from_slice(&env.payload).unwrap();
        assert_eq!(st["subject"][0]["name"], image);
        assert_eq!(a.body["license_id"], license_id.as_str());
    }
    // The audit log has both, with who, what and for whom.
    let lines = h.audit_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["identity"]["repository"], "octo-org/octo-repo");
    assert_eq!(
        lines[0]["identity"]["san_uri"],
        "https://github.com/octo-org/octo-automation/.github/workflows/oidc.yml@refs/heads/main"
    );
    assert_eq!(lines[1]["identity"]["repository"], "my-group/my-project");
    assert_eq!(lines[1]["identity"]["ref"], "refs/heads/feature-branch-1");
    for l in &lines {
        assert_eq!(l["result"], "signed");
        assert_eq!(l["license_id"], license_id.as_str());
        assert_eq!(l["predicate_type"], SPDX);
        assert_eq!(l["image_digests"][0], format!("sha256:{}", "a".repeat(64)));
        assert_eq!(l["policy_digest"], format!("sha256:{}", "b".repeat(64)));
    }
}

#[tokio::test]
async fn discovery_jwks_health_metrics_and_openapi() {
    let h = Harness::start().await;
    let get = |p: &str| h.http.get(format!("{}{p}", h.url)).send();
    let d: Value = get("/.well-known/openid-configuration")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], h.url.as_str());
    assert_eq!(d["token_endpoint"], format!("{}/oauth/token", h.url));
    let jwks: Value = get("/jwks").await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    assert!(jwks["keys"][0].get("d").is_none(), "no private member");
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let r = get("/healthz").await.unwrap();
    assert!(r.headers().get("x-request-id").is_some());
    let r = h
        .http
        .get(format!("{}/healthz", h.url))
        .header("x-request-id", "ci-job-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "ci-job-42");
    let m = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        m.contains("stella_http_requests_total{route=\"/healthz\",status=\"200\"}"),
        "{m}"
    );
    assert!(m.contains("stella_signatures_total 0"));
    for p in [
        "/openapi.json",
        "/openapi/authority.json",
        "/openapi/signer.json",
    ] {
        let doc: Value = get(p).await.unwrap().json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0", "{p}");
    }
}

/// A CI token whose claims or header were changed by `edit`, signed by the GitHub test issuer.
fn github_token(h: &Harness, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
    let mut header = json!({});
    let mut claims = h.github.github_claims(GITHUB_AUD);
    edit(&mut header, &mut claims);
    h.github.sign(header, &claims)
}

fn unsigned(header: Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(claims.to_string().as_bytes())
    )
}

#[tokio::test]
async fn bad_ci_tokens_get_invalid_grant_and_no_optok() {
    let h = Harness::start().await;
    let c = Client::new(&h.url);
    let now = now();
    let mut cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            github_token(&h, |_, c| {
                c["exp"] = json!(now - 600);
                c["iat"] = json!(now - 900);
                c["nbf"] = json!(now - 900);
            }),
            "exp",
        ),
        (
            "not yet valid",
            github_token(&h, |_, c| c["nbf"] = json!(now + 600)),
            "nbf",
        ),
        (
            "wrong aud",
            github_token(&h, |_, c| c["aud"] = json!("sigstore")),
            "aud",
        ),
        (
            "unknown kid",
            github_token(&h, |hd, _| hd["kid"] = json!("no-such-key")),
            "kid",
        ),
        (
            "wrong repository",
            github_token(&h, |_, c| c["repository"] = json!("evil-org/repo")),
            "no identity rule",
        ),
        (
            "wrong ref",
            github_token(&h, |_, c| c["ref"] = json!("refs/heads/feature")),
            "no identity rule",
        ),
    ];
    // Wrong iss: a token from an issuer nobody configured, signed by a real key.
    let mut rogue = h.github.github_claims(GITHUB_AUD);
    rogue["iss"] = json!("https://token.actions.example.invalid");
    cases.push(("wrong iss", h.github.sign(json!({}), &rogue), "not trusted"));
    // alg none.
    cases.push((
        "alg none",
        unsigned(
            json!({"alg": "none", "typ": "JWT"}),
            &h.github.github_claims(GITHUB_AUD),
        ),
        "none",
    ));
    // HS256 keyed with the issuer's public key (the classic key-confusion attack).
    let claims = h.github.github_claims(GITHUB_AUD);
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": h.github.kid});
    let input = format!(
        "{}.{}",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(claims.to_string().as_bytes())
    );
    let (n, _) = rsa_public(&h.github.rsa);
    let key = hmac::Key::new(hmac::HMAC_SHA256, n.as_bytes());
    let tag = hmac::sign(&key, input.as_bytes());
    cases.push((
        "HS256 with the public key",
        format!("{input}.{}", b64url_encode(tag.as_ref())),
        "HS256",
    ));
    for (name, token, says) in cases {
        let a = c.exchange(&token).await;
        assert_eq!(a.status, 400, "{name}: {a:?}");
        let code = a.error();
        assert!(
            code == "invalid_grant" || code == "unauthorized_client",
            "{name}: {a:?}"
        );
        let d = a.body["error_description"].as_str().unwrap();
        assert!(d.contains(says), "{name}: {d} should mention {says}");
        assert!(a.body.get("access_token").is_none(), "{name}");
    }
    assert_eq!(c.exchange(&github_token(&h, |_, _| {})).await.status, 200);
}

#[tokio::test]
async fn dpop_faults_at_the_token_endpoint_and_the_signer() {
    let h = Harness::start().await;
    let (_, lt) = h.license("team");
    let c = Client::new(&h.url);
    let ci = github_token(&h, |_, _| {});
    let optok = c.optok(&ci).await;
    let poe = c.poe(&lt).await;
    let body = statement(IMAGE, SPDX);
    let sign_url = format!("{}/sign/dsse", h.url);
    let send = |proof: String, token: String| {
        h.http
            .post(&sign_url)
            .header("Authorization", format!("DPoP {token}"))
            .header("DPoP", proof)
            .header("Stella-PoE", poe.clone())
            .json(&body)
            .send()
    };
    let check = |resp: reqwest::Response, code: &'static str, name: &'static str| async move {
        assert_eq!(resp.status(), 401, "{name}");
        let www = resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            www.starts_with("DPoP ") && www.contains(code),
            "{name}: {www}"
        );
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"], code, "{name}: {v}");
    };

    // Replayed jti: the same proof twice.
    let proof = c.proof_with("POST", &sign_url, Some(&optok), |_| {});
    assert_eq!(
        send(proof.clone(), optok.clone()).await.unwrap().status(),
        200
    );
    check(
        send(proof, optok.clone()).await.unwrap(),
        "invalid_dpop_proof",
        "replay",
    )
    .await;
    // Wrong htm.
    let p = c.proof_with("GET", &sign_url, Some(&optok), |_| {});
    check(
        send(p, optok.clone()).await.unwrap(),
        "invalid_dpop_proof",
        "htm",
    )
    .await;
    // Wrong htu.
    let p = c.proof_with(
        "POST",
        &format!("{}/oauth/token", h.url),
        Some(&optok),
        |_| {},
    );
    check(
        send(p, optok.clone()).await.unwrap(),
        "invalid_dpop_proof",
        "htu",
    )
    .await;
    // Stale nonce: one the server never issued (or from a passed window).
    let p = c.proof_with("POST", &sign_url, Some(&optok), |m| {
        m.insert(
            "nonce".into(),
            json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        );
    });
    let r = send(p, optok.clone()).await.unwrap();
    assert!(
        r.headers().get("dpop-nonce").is_some(),
        "a fresh nonce comes with the error"
    );
    check(r, "use_dpop_nonce", "stale nonce").await;
    // DPoP key ≠ cnf: another key proves for this token.
    let other = Client::new(&h.url);
    *other.nonce.lock().unwrap() = c.nonce.lock().unwrap().clone();
    let p = other.proof_with("POST", &sign_url, Some(&optok), |_| {});
    check(
        send(p, optok.clone()).await.unwrap(),
        "invalid_token",
        "cnf",
    )
    .await;
    // Missing ath binding: a proof for another token.
    let p = c.proof_with("POST", &sign_url, Some("another-token"), |_| {});
    check(
        send(p, optok.clone()).await.unwrap(),
        "invalid_dpop_proof",
        "ath",
    )
    .await;
    // Expired or tampered OpTok.
    let mut parts: Vec<String> = optok.split('.').map(str::to_owned).collect();
    parts[1] = b64url_encode(b"{\"iss\":\"x\"}");
    let forged = parts.join(".");
    let p = c.proof_with("POST", &sign_url, Some(&forged), |_| {});
    check(
        send(p, forged).await.unwrap(),
        "invalid_token",
        "forged optok",
    )
    .await;
    // Bearer instead of DPoP.
    let r = h
        .http
        .post(&sign_url)
        .header("Authorization", format!("Bearer {optok}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    check(r, "invalid_token", "bearer").await;
    // Only the first request signed.
    assert_eq!(h.signed_count(), 1);

    // At the token endpoint the same faults answer 400 with the RFC 9449 codes.
    let tok_url = format!("{}/oauth/token", h.url);
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", ci.as_str()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
    ];
    let p = c.proof_with("PUT", &tok_url, None, |_| {});
    let r = h
        .http
        .post(&tok_url)
        .header("DPoP", p)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_dpop_proof"
    );
    let p = c.proof_with("POST", &tok_url, None, |m| {
        m.remove("nonce");
    });
    let r = h
        .http
        .post(&tok_url)
        .header("DPoP", p)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("dpop-nonce").is_some());
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "use_dpop_nonce");
    let r = h.http.post(&tok_url).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_dpop_proof"
    );
}

#[tokio::test]
async fn entitlement_faults() {
    let h = Harness::start().await;
    let (license_id, lt) = h.license("team");
    let c = Client::new(&h.url);
    let optok = c.optok(&github_token(&h, |_, _| {})).await;
    let poe = c.poe(&lt).await;
    let body = statement(IMAGE, SPDX);

    // Community mode: no PoE, no signature.
    let a = c.sign(&optok, None, &body).await;
    assert_eq!(
        (a.status, a.error()),
        (403, "entitlement_required"),
        "{a:?}"
    );

    // Another installation's PoE: enrolled with a different key.
    let other = Client::new(&h.url);
    let other_poe = other.poe(&lt).await;
    let a = c.sign(&optok, Some(&other_poe), &body).await;
    assert_eq!((a.status, a.error()), (403, "invalid_entitlement"), "{a:?}");
    assert!(a.body["error_description"]
        .as_str()
        .unwrap()
        .contains("another installation"));

    // A License Token is not a PoE (typ confusion).
    let a = c.sign(&optok, Some(&lt), &body).await;
    assert_eq!((a.status, a.error()), (403, "invalid_entitlement"), "{a:?}");

    // Works, then the license is revoked and the same PoE stops working.
    assert_eq!(c.sign(&optok, Some(&poe), &body).await.status, 200);
    let admin = h.stack.admin_token().to_owned();
    let r = h
        .http
        .post(format!("{}/license/revoke", h.url))
        .json(&json!({"license_id": license_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "revocation needs the admin token");
    let r = h
        .http
        .post(format!("{}/license/revoke", h.url))
        .bearer_auth(&admin)
        .json(&json!({"license_id": license_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a = c.sign(&optok, Some(&poe), &body).await;
    assert_eq!((a.status, a.error()), (403, "invalid_entitlement"), "{a:?}");
    assert!(a.body["error_description"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    let i: Value = h
        .http
        .post(format!("{}/license/introspect", h.url))
        .json(&json!({"poe": poe}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(i["active"], false);
    // Re-enrolling a revoked license fails; the revocation survived on disk.
    let a = Client::new(&h.url).enroll(&lt).await;
    assert_eq!((a.status, a.error()), (403, "invalid_entitlement"));
    let saved = std::fs::read_to_string(h.state_dir().join("license/revoked.json")).unwrap();
    assert!(saved.contains(&license_id));
    assert_eq!(h.signed_count(), 1);
    // Every denial is in the audit log.
    let denied = h
        .audit_lines()
        .iter()
        .filter(|l| l["result"] == "denied")
        .count();
    assert_eq!(denied, 4);
}

#[tokio::test]
async fn quotas_and_sizes() {
    let h = Harness::start().await;
    let (_, lt) = h.license("tiny");
    let c = Client::new(&h.url);
    let optok = c.optok(&github_token(&h, |_, _| {})).await;
    let poe = c.poe(&lt).await;
    let body = statement(IMAGE, SPDX);
    // Burst of 2, then 429 with Retry-After.
    assert_eq!(c.sign(&optok, Some(&poe), &body).await.status, 200);
    assert_eq!(c.sign(&optok, Some(&poe), &body).await.status, 200);
    let a = c.sign(&optok, Some(&poe), &body).await;
    assert_eq!((a.status, a.error()), (429, "quota_exceeded"), "{a:?}");
    assert!(a.headers.get("retry-after").is_some());
    // Over the plan's payload size (2 KiB): 413, nothing signed.
    let mut big = statement(IMAGE, SPDX);
    big["statement"]["predicate"]["pad"] = json!("x".repeat(4096));
    let a = c.sign(&optok, Some(&poe), &big).await;
    assert_eq!((a.status, a.error()), (413, "payload_too_large"), "{a:?}");
    // Over the server's body limit: 413 before anything is read.
    let mut huge = statement(IMAGE, SPDX);
    huge["statement"]["predicate"]["pad"] = json!("x".repeat(200_000));
    let a = c.sign(&optok, Some(&poe), &huge).await;
    assert_eq!(a.status, 413, "{a:?}");
    assert_eq!(h.signed_count(), 2);
}

#[tokio::test]
async fn identity_rules_limit_what_is_signed() {
    let h = Harness::start().await;
    let (license, lt) = h.license("team");
    let c = Client::new(&h.url);
    let optok = c.optok(&github_token(&h, |_, _| {})).await;
    let poe = c.poe(&lt).await;
    let a = c
        .sign(
            &optok,
            Some(&poe),
            &statement("127.0.0.1:5000/other-org/app", SPDX),
        )
        .await;
    assert_eq!((a.status, a.error()), (403, "insufficient_scope"), "{a:?}");
    let a = c
        .sign(
            &optok,
            Some(&poe),
            &statement(IMAGE, "https://slsa.dev/provenance/v1"),
        )
        .await;
    assert_eq!((a.status, a.error()), (403, "insufficient_scope"), "{a:?}");
    let mut bad = statement(IMAGE, SPDX);
    bad["statement"]["subject"][0]["digest"]["sha256"] = json!("nothex");
    let a = c.sign(&optok, Some(&poe), &bad).await;
    assert_eq!((a.status, a.error()), (400, "invalid_request"), "{a:?}");
    assert_eq!(h.signed_count(), 0);

    // Claims the SBOM stamps about its attestation must be the request's own: the PoE's license,
    // the policy digest the request names.
    let stamped = |license: &str, policy: Option<&str>| {
        let mut st = statement(IMAGE, "https://cyclonedx.org/bom");
        let mut props = vec![json!({"name": "stella:attestation:licenseId", "value": license})];
        if let Some(d) = policy {
            props.push(json!({"name": "stella:attestation:policyDigest", "value": d}));
        }
        st["statement"]["predicate"] =
            json!({"bomFormat": "CycloneDX", "metadata": {"properties": props}});
        st
    };
    let a = c
        .sign(&optok, Some(&poe), &stamped("LIC-FORGED", None))
        .await;
    assert_eq!((a.status, a.error()), (400, "invalid_request"), "{a:?}");
    assert!(format!("{a:?}").contains("LIC-FORGED"), "{a:?}");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let a = c
        .sign(&optok, Some(&poe), &stamped(&license, Some(&digest)))
        .await;
    assert_eq!((a.status, a.error()), (400, "invalid_request"), "{a:?}");
    assert!(format!("{a:?}").contains("policy digest"), "{a:?}");
    assert_eq!(h.signed_count(), 0);
    let mut good = stamped(&license, Some(&digest));
    good["policy_digest"] = json!(digest);
    let a = c.sign(&optok, Some(&poe), &good).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(h.signed_count(), 1);
}

#[tokio::test]
async fn poe_renewal_needs_the_same_key() {
    let h = Harness::start().await;
    let (_, lt) = h.license("team");
    let c = Client::new(&h.url);
    let poe = c.poe(&lt).await;
    let a = renew(&h, &c, poe.clone()).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_ne!(a.body["poe"], poe.as_str());
    let thief = Client::new(&h.url);
    let a = renew(&h, &thief, poe).await;
    assert_eq!((a.status, a.error()), (403, "invalid_entitlement"));
}

async fn renew(h: &Harness, who: &Client, poe: String) -> Answer {
    let url = format!("{}/license/renew", h.url);
    who.send(|cl| {
        cl.http
            .post(&url)
            .header("DPoP", cl.proof_with("POST", &url, None, |_| {}))
            .json(&json!({"poe": poe}))
    })
    .await
}

#[tokio::test]
async fn authority_and_signer_deployed_apart() {
    use signer_gateway::service::run::fetch_trust;
    use signer_gateway::service::{authority_app, signer_app, system_clock, Config, Roles, Stack};
    let github = TestIssuer::start().await;
    let gitlab = TestIssuer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = dir.path().join("gitlab.json");
    std::fs::write(&jwks_file, gitlab.jwks.to_string()).unwrap();
    let cfg = || {
        Config::parse(
            test_config(&github, &gitlab, &jwks_file)
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    };

    let a_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a_url = format!("http://{}", a_listener.local_addr().unwrap());
    let a_dir = dir.path().join("authority");
    let authority = Stack::open_roles(
        &a_dir,
        Roles {
            authority: true,
            signer: false,
        },
        cfg(),
        &a_url,
        system_clock(),
    )
    .unwrap();
    tokio::spawn(axum::serve(a_listener, authority_app(authority.clone())).into_future());

    let s_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s_url = format!("http://{}", s_listener.local_addr().unwrap());
    let s_dir = dir.path().join("signer");
    let trust = fetch_trust(&a_url).await.unwrap();
    let mut s_cfg = cfg();
    s_cfg.issuer = Some(trust.issuer.clone());
    let signer = Stack::open_roles(
        &s_dir,
        Roles {
            authority: false,
            signer: true,
        },
        s_cfg,
        &s_url,
        system_clock(),
    )
    .unwrap();
    signer.set_trust(trust.authority, trust.license, trust.license_issuer);
    tokio::spawn(axum::serve(s_listener, signer_app(signer.clone())).into_future());

    // Each keeps only its own keys on disk.
    assert!(a_dir.join("license/issuer.pk8").exists() && !a_dir.join("signer/key.pk8").exists());
    assert!(s_dir.join("signer/key.pk8").exists() && !s_dir.join("license/issuer.pk8").exists());
    assert!(!s_dir.join("authority/keys.json").exists());

    let (_, lt) = signer_gateway::service::license::issue_license_token(
        authority.license_signer(),
        &signer_gateway::service::license::LicenseTerms {
            customer_id: "C".into(),
            plan: "team".into(),
            valid_release_year: 2026,
            max_version: "1.99".into(),
            lifetime_secs: 86_400,
        },
        now(),
    )
    .unwrap();
    let at_authority = Client::new(&a_url);
    let optok = at_authority
        .optok(&github.sign(json!({}), &github.github_claims(GITHUB_AUD)))
        .await;
    let poe = at_authority.poe(&lt).await;
    // Same installation key, now talking to the Signer.
    let at_signer = Client {
        base: s_url.clone(),
        ..at_authority
    };
    let a = at_signer
        .sign(&optok, Some(&poe), &statement(IMAGE, SPDX))
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    // The Signer on its own has no Authority routes.
    let r = reqwest::get(format!("{s_url}/oauth/token")).await.unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::get(format!("{a_url}/sign/dsse")).await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn release_integrity_gate() {
    use crate::support::{layer_tar, write_image, write_layout};
    use signer_gateway::dsse::{KeySource as _, MemoryKey};
    use signer_gateway::release::sign_release;

    // Scanner images in an OCI layout: one signed by the release key, one unsigned, one signed but
    // newer than the license covers, one signed by another key.
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("scanners");
    let mut entries = Vec::new();
    let mut digests = std::collections::BTreeMap::new();
    for name in ["good", "unsigned", "newer", "forged"] {
        let (desc, _) = write_image(
            &layout,
            "linux",
            "amd64",
            None,
            &[layer_tar(&[("v", name.as_bytes())])],
        );
        digests.insert(name, desc["digest"].as_str().unwrap().to_owned());
        entries.push((name, desc));
    }
    write_layout(&layout, entries);
    let rng = ring::rand::SystemRandom::new();
    let (release_key, _) = MemoryKey::generate(&rng).unwrap();
    let (rogue_key, _) = MemoryKey::generate(&rng).unwrap();
    let opts = registry::PushOptions::default();
    let tag = |n: &str| format!("oci:{}:{n}", layout.display());
    sign_release(&tag("good"), &release_key, "1.4.0", 2026, &opts)
        .await
        .unwrap();
    sign_release(&tag("newer"), &release_key, "2.0.0", 2026, &opts)
        .await
        .unwrap();
    sign_release(&tag("forged"), &rogue_key, "1.4.0", 2026, &opts)
        .await
        .unwrap();
    let pem_path = dir.path().join("release.pub");
    std::fs::write(
        &pem_path,
        signer_gateway::service::pem("PUBLIC KEY", &release_key.public_key_spki_der()),
    )
    .unwrap();

    let h = Harness::start_with(|cfg| cfg["release_keys"] = json!([pem_path])).await;
    let (_, lt) = h.license("team"); // max_version 1.99, valid_release_year 2026
    let c = Client::new(&h.url);
    let optok = c.optok(&github_token(&h, |_, _| {})).await;
    let poe = c.poe(&lt).await;
    let with = |image: Option<String>| {
        let mut b = statement(IMAGE, SPDX);
        if let Some(i) = image {
            b["scanner_image"] = json!(i);
        }
        b
    };
    let pinned = |n: &str| format!("oci:{}:{}", layout.display(), digests[n]);
    for (name, image, status, code, says) in [
        (
            "no scanner image",
            None,
            403,
            "release_unverified",
            "scanner_image",
        ),
        (
            "unsigned",
            Some(pinned("unsigned")),
            403,
            "release_unverified",
            "release signature",
        ),
        (
            "another key",
            Some(pinned("forged")),
            403,
            "release_unverified",
            "trusted",
        ),
        (
            "by tag",
            Some(tag("good")),
            403,
            "release_unverified",
            "digest",
        ),
        (
            "newer than licensed",
            Some(pinned("newer")),
            403,
            "release_not_entitled",
            "2.0.0",
        ),
    ] {
        let a = c.sign(&optok, Some(&poe), &with(image)).await;
        assert_eq!((a.status, a.error()), (status, code), "{name}: {a:?}");
        let d = a.body["error_description"].as_str().unwrap();
        assert!(d.contains(says), "{name}: {d} should say {says}");
    }
    assert_eq!(h.signed_count(), 0);
    let a = c
        .sign(&optok, Some(&poe), &with(Some(pinned("good"))))
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let last = h.audit_lines().pop().unwrap();
    assert_eq!(last["scanner_image"], pinned("good").as_str());
}

#[tokio::test]
async fn keyless_signing_gives_a_fulcio_shaped_certificate() {
    use signer_gateway::keyless::verify_embedded_sct;
    let h = Harness::start().await;
    let (_, lt) = h.license("team");
    let c = Client::new(&h.url);
    let optok = c.optok(&github_token(&h, |_, _| {})).await;
    let poe = c.poe(&lt).await;
    let mut body = statement(IMAGE, SPDX);
    body["signing"] = json!("keyless");
    let a = c.sign(&optok, Some(&poe), &body).await;
    assert_eq!(a.status, 200, "{a:?}");
    let leaf_pem = a.body["certificate"].as_str().unwrap();
    let leaf = signer_gateway::service::pem_decode("CERTIFICATE", leaf_pem).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).unwrap();
    // The envelope is signed by the certified (ephemeral) key, not the configured one.
    let env = Envelope::from_json(&a.body["envelope"]).unwrap();
    env.verify_p256(cert.tbs_certificate.subject_pki.raw)
        .unwrap();
    assert!(env.verify_p256(&h.stack.signing_key_spki()).is_err());
    let v = cert.validity();
    assert_eq!(v.not_after.timestamp() - v.not_before.timestamp(), 600);
    // The SCT verifies with the stack's CT key, under the CA's key.
    let ca = h.stack.ca_root_der().to_vec();
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca).unwrap();
    verify_embedded_sct(
        &leaf,
        ca_cert.tbs_certificate.subject_pki.raw,
        &h.stack.ct_log_spki_der(),
    )
    .unwrap();
    // The chain the Signer serves is the CA root.
    let served = reqwest::get(format!("{}/trust/keyless-ca.pem", h.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, a.body["chain"][0].as_str().unwrap());

    // openssl: chain to the CA and the identity extensions (SAN = the workflow, Fulcio OIDs).
    if crate::support::require(
        std::process::Command::new("openssl")
            .arg("version")
            .output()
            .ok()
            .filter(|o| o.status.success()),
        "openssl",
    )
    .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leaf.pem"), leaf_pem).unwrap();
    std::fs::write(dir.path().join("ca.pem"), &served).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["verify", "-purpose", "any", "-CAfile"])
        .arg(dir.path().join("ca.pem"))
        .arg(dir.path().join("leaf.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(dir.path().join("leaf.pem"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "URI:https://github.com/octo-org/octo-automation/.github/workflows/oidc.yml@refs/heads/main",
        "Code Signing",
        "1.3.6.1.4.1.57264.1.8",
        "1.3.6.1.4.1.57264.1.12",
        "https://github.com/octo-org/octo-repo",
        "CT Precertificate SCTs",
        &h.github.url,
    ] {
        assert!(text.contains(want), "openssl x509 -text lacks {want}:\n{text}");
    }
}

/// A test PKI for mutual TLS: a CA, the server's certificate for 127.0.0.1, and client certificates.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "stella test client CA");
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let ca = rcgen::CertifiedIssuer::self_signed(params, key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca }
    }

    /// A certificate for `name` (a SAN) signed by the CA: (cert PEM, key PEM, cert DER, key PKCS#8).
    fn issue(&self, name: &str, client: bool) -> (String, String, Vec<u8>, Vec<u8>) {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (
            cert.pem(),
            key.serialize_pem(),
            cert.der().to_vec(),
            key.serialize_der(),
        )
    }
}

#[tokio::test]
async fn services_get_certificate_bound_optoks_over_mutual_tls() {
    use sha2::{Digest, Sha256};
    use signer_gateway::jose::{b64url_encode, Es256Signer};
    use signer_gateway::service::{app, system_clock, tls, Config, Stack};

    let pki = Pki::new();
    let (srv_cert, srv_key, _, _) = pki.issue("127.0.0.1", false);
    let (cl_cert, cl_key, cl_der, cl_pkcs8) = pki.issue("attestor.stella.internal", true);
    let (other_cert, other_key, _, _) = pki.issue("intruder.stella.internal", true);
    let p = |n: &str| pki.dir.path().join(n);
    std::fs::write(p("server.pem"), &srv_cert).unwrap();
    std::fs::write(p("server.key"), &srv_key).unwrap();
    let x5t = b64url_encode(&Sha256::digest(&cl_der));
    let cfg = json!({
        "tls": {"cert_file": p("server.pem"), "key_file": p("server.key"), "client_ca_file": p("ca.pem")},
        "mtls_clients": [{"client_id": "attestor", "x5t_s256": x5t, "images": ["127.0.0.1*/octo-org/*"]}],
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let data = tempfile::tempdir().unwrap();
    let stack = Stack::open(
        data.path(),
        Config::parse(cfg.to_string().as_bytes()).unwrap(),
        &url,
        system_clock(),
    )
    .unwrap();
    let server = tls::server_config(stack.cfg.tls.as_ref().unwrap()).unwrap();
    tokio::spawn(tls::serve_tls(
        listener,
        app(stack.clone()),
        server,
        std::future::pending(),
    ));

    let ca = reqwest::Certificate::from_pem(pki.ca.pem().as_bytes()).unwrap();
    let client_with = |cert: &str, key: &str| {
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca.clone())
            .identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap())
            .build()
            .unwrap()
    };
    let mtls = client_with(&cl_cert, &cl_key);
    let intruder = client_with(&other_cert, &other_key);
    let anonymous = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca.clone())
        .build()
        .unwrap();
    let token = |c: &reqwest::Client| {
        c.post(format!("{url}/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "attestor"),
            ])
            .send()
    };
    // The registered certificate gets an OpTok bound to it; others get invalid_client.
    let r: Value = token(&mtls).await.unwrap().json().await.unwrap();
    let optok = r["access_token"].as_str().expect("an OpTok").to_owned();
    for (name, c) in [
        ("another certificate", &intruder),
        ("no certificate", &anonymous),
    ] {
        let r = token(c).await.unwrap();
        assert_eq!(r.status(), 401, "{name}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "invalid_client",
            "{name}"
        );
    }
    let claims: Value = serde_json::from_slice(
        &signer_gateway::jose::b64url_decode(optok.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["cnf"]["x5t#S256"], x5t.as_str());

    // The service enrolls its license with its certificate's key (DPoP proof by that key).
    let (_, lt) = signer_gateway::service::license::issue_license_token(
        stack.license_signer(),
        &signer_gateway::service::license::LicenseTerms {
            customer_id: "C".into(),
            plan: "team".into(),
            valid_release_year: 2026,
            max_version: "1.99".into(),
            lifetime_secs: 86_400,
        },
        now(),
    )
    .unwrap();
    let rng = ring::rand::SystemRandom::new();
    let service = Client {
        key: Es256Signer::from_pkcs8(&cl_pkcs8, "attestor", &rng).unwrap(),
        nonce: std::sync::Mutex::new(None),
        base: url.clone(),
        http: mtls.clone(),
    };
    let poe = service.poe(&lt).await;
    let sign = |c: &reqwest::Client, poe: &str| {
        c.post(format!("{url}/sign/dsse"))
            .header("Authorization", format!("Bearer {optok}"))
            .header("Stella-PoE", poe)
            .json(&statement(IMAGE, SPDX))
            .send()
    };
    let r = sign(&mtls, &poe).await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    // The same OpTok on a connection with another certificate, or none: refused.
    for (name, c) in [
        ("another certificate", &intruder),
        ("no certificate", &anonymous),
    ] {
        let r = sign(c, &poe).await.unwrap();
        assert_eq!(r.status(), 401, "{name}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "invalid_token",
            "{name}"
        );
    }
    // A PoE enrolled by another key is not this client's.
    let other_poe = Client::new(&url);
    let other_poe = Client {
        http: anonymous.clone(),
        ..other_poe
    }
    .poe(&lt)
    .await;
    let r = sign(&mtls, &other_poe).await.unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn introspection_and_community_throttle() {
    let h = Harness::start().await;
    let c = Client::new(&h.url);
    let optok = c.optok(&github_token(&h, |_, _| {})).await;
    let url = format!("{}/oauth/introspect", h.url);
    let ask = |token: String, admin: Option<String>| {
        let mut r = h.http.post(&url).form(&[("token", token)]);
        if let Some(a) = admin {
            r = r.bearer_auth(a);
        }
        r.send()
    };
    let admin = h.stack.admin_token().to_owned();
    let r = ask(optok.clone(), None).await.unwrap();
    assert_eq!(
        r.status(),
        401,
        "introspection is protected (RFC 7662 §2.1)"
    );
    let v: Value = ask(optok.clone(), Some(admin.clone()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "DPoP");
    assert_eq!(v["cnf"]["jkt"].as_str().unwrap().len(), 43);
    assert_eq!(v["stella_identity"]["repository"], "octo-org/octo-repo");
    let ttl = v["exp"].as_u64().unwrap() - v["iat"].as_u64().unwrap();
    assert!(
        (120..=300).contains(&ttl),
        "OpToks live 2-5 minutes, not {ttl}"
    );
    let v: Value = ask("garbage".into(), Some(admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"active": false}));

    // Community mode (no PoE) is refused, and throttled (1 request/s by default) before that.
    let body = statement(IMAGE, SPDX);
    let a = c.sign(&optok, None, &body).await;
    assert_eq!((a.status, a.error()), (403, "entitlement_required"));
    let mut throttled = false;
    for _ in 0..5 {
        let a = c.sign(&optok, None, &body).await;
        assert!(a.status == 403 || a.status == 429, "{a:?}");
        throttled |= a.status == 429 && a.error() == "quota_exceeded";
    }
    assert!(
        throttled,
        "six community requests in well under a second, none throttled"
    );
    assert_eq!(h.signed_count(), 0);
}

#[tokio::test]
async fn openapi_documents_pass_an_independent_validator() {
    // openapi-spec-validator (tests/requirements.txt) checks each document the services serve.
    let python = std::env::var_os("STELLA_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "python3".into());
    let has = std::process::Command::new(&python)
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    if crate::support::require(has, "openapi-spec-validator (python)").is_none() {
        return;
    }
    let h = Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (i, path) in [
        "/openapi.json",
        "/openapi/authority.json",
        "/openapi/signer.json",
    ]
    .iter()
    .enumerate()
    {
        let text = reqwest::get(format!("{}{path}", h.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let file = dir.path().join(format!("doc{i}.json"));
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new(&python)
            .args(["-m", "openapi_spec_validator"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The validator does refuse a broken document.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"openapi": "3.1.0", "paths": {}}"#).unwrap();
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn malformed_requests_get_invalid_request_not_a_crash() {
    let h = Harness::start().await;
    let (_, lt) = h.license("team");
    let c = Client::new(&h.url);
    let optok = c.optok(&github_token(&h, |_, _| {})).await;
    let poe = c.poe(&lt).await;
    // The Signer: bodies that are not JSON, not an object, or a statement of the wrong shape.
    for body in [
        json!("just a string"),
        json!({"statement": "not an object"}),
        json!({"statement": {"_type": "https://in-toto.io/Statement/v1", "subject": [], "predicateType": SPDX}}),
        json!({"statement": {"_type": "nope", "subject": [{"name": "x", "digest": {"sha256": "a".repeat(64)}}], "predicateType": SPDX}}),
        json!({"statement": {"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "x", "digest": {"sha256": "a".repeat(64)}}]}}),
        json!({"statement": statement(IMAGE, SPDX)["statement"], "signing": "quantum"}),
    ] {
        let a = c.sign(&optok, Some(&poe), &body).await;
        assert_eq!(
            (a.status, a.error()),
            (400, "invalid_request"),
            "{body}: {a:?}"
        );
    }
    let url = format!("{}/sign/dsse", h.url);
    let a = c
        .send(|cl| {
            cl.http
                .post(&url)
                .header("Authorization", format!("DPoP {optok}"))
                .header("DPoP", cl.proof_with("POST", &url, Some(&optok), |_| {}))
                .header("Stella-PoE", poe.as_str())
                .body(vec![0xff_u8, 0x00, 0x7b])
        })
        .await;
    assert_eq!((a.status, a.error()), (400, "invalid_request"), "{a:?}");
    // The Authority and licensing: broken forms and bodies, hostile tokens.
    let r = h
        .http
        .post(format!("{}/oauth/token", h.url))
        .body("%%%=&&")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    for token in ["", "a.b", "....", &"A".repeat(70_000)] {
        let a = c.exchange(token).await;
        assert_eq!(a.status, 400, "{a:?}");
        assert!(
            ["invalid_grant", "invalid_request"].contains(&a.error()),
            "{a:?}"
        );
    }
    let a = c.enroll("not-a-token").await;
    assert_eq!((a.status, a.error()), (403, "invalid_entitlement"), "{a:?}");
    let url = format!("{}/license/enroll", h.url);
    let a = c
        .send(|cl| {
            cl.http
                .post(&url)
                .header("DPoP", cl.proof_with("POST", &url, None, |_| {}))
                .header("content-type", "application/json")
                .body("{\"license_token\": 7")
        })
        .await;
    assert_eq!((a.status, a.error()), (400, "invalid_request"), "{a:?}");
    assert_eq!(h.signed_count(), 0);
    // Still serving.
    assert_eq!(
        reqwest::get(format!("{}/healthz", h.url))
            .await
            .unwrap()
            .status(),
        200
    );
}
