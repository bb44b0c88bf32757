//! TLS on the SCIM listener, on the binary: a real TLS client (reqwest with rustls, trusting
//! a test CA made with rcgen) gets answers over TLS 1.2 and 1.3, plain HTTP on the same port
//! gets none, and a new certificate is served after SIGHUP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use reqwest::{tls, Certificate, StatusCode};
use support::{free_port, scim_only_config};

/// A CA, and a certificate for `localhost` and 127.0.0.1 signed by it with this serial.
fn issue(dir: &std::path::Path, name: &str, serial: u64) -> Certificate {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("idsync test CA {name}"));
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf.serial_number = Some(serial.into());
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("scim.crt"), leaf.pem() + &ca.pem()).unwrap();
    std::fs::write(dir.join("scim.key"), key.serialize_pem()).unwrap();
    Certificate::from_pem(ca.pem().as_bytes()).unwrap()
}

fn client(ca: &Certificate, version: tls::Version) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca.clone())
        .min_tls_version(version)
        .max_tls_version(version)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_endpoint_speaks_tls_1_2_and_1_3_refuses_plain_http_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = scim_only_config(dir.path(), &dir.path().join("idsync.db"), port);
    let text = std::fs::read_to_string(&config).unwrap()
        + "tls_cert_path = \"scim.crt\"\ntls_key_path = \"scim.key\"\n";
    std::fs::write(&config, text).unwrap();
    let first_ca = issue(dir.path(), "one", 1);
    let token = support::create_scim_token(&config);
    let mut daemon = support::spawn_run(&config);
    let base = format!("https://localhost:{port}/scim/v2");
    let tls13 = client(&first_ca, tls::Version::TLS_1_3);
    let mut up = false;
    for _ in 0..100 {
        if tls13.get(format!("{base}/health")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "no TLS answer on {base}");

    for version in [tls::Version::TLS_1_2, tls::Version::TLS_1_3] {
        let got = client(&first_ca, version)
            .get(format!("{base}/Users"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{version:?}: {e}"));
        assert_eq!(got.status(), StatusCode::OK, "{version:?}");
    }
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/scim/v2/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    // A new certificate from another CA, then SIGHUP: the old CA is no longer enough.
    let second_ca = issue(dir.path(), "two", 2);
    let _ = Command::new("kill")
        .args(["-HUP", &daemon.id().to_string()])
        .status();
    let mut switched = false;
    for _ in 0..100 {
        let new = client(&second_ca, tls::Version::TLS_1_3)
            .get(format!("{base}/health"))
            .send()
            .await;
        if new.is_ok() {
            switched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(switched, "the new certificate was not served after SIGHUP");
    let old = client(&first_ca, tls::Version::TLS_1_3)
        .get(format!("{base}/health"))
        .send()
        .await;
    assert!(old.is_err(), "the old certificate is still served");

    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
}
