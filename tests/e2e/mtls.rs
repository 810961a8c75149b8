//! mTLS through the real binary: a shard that accepts only client certificates of the
//! cluster CA, a gateway that reaches it over TLS, and callers identified by their
//! client certificate (no API key) with their credential's policy, while an API key
//! still works over TLS. Unbound, foreign and absent certificates are refused.

use std::path::{Path, PathBuf};

use crate::common::service::{idauth, scratch, spawn};
use idauth_proto::status::from_status;
use idauth_proto::v1;
use idauth_proto::v1::auth_client::AuthClient;
use idauth_proto::v1::operator_client::OperatorClient;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Writes `name.pem` and `name.key` for a leaf signed by `issuer`; returns the paths.
fn leaf(
    dir: &Path,
    name: &str,
    issuer: &CertifiedIssuer<'_, KeyPair>,
    usages: Vec<ExtendedKeyUsagePurpose>,
) -> (PathBuf, PathBuf) {
    let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    params.extended_key_usages = usages;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

fn ca(dir: &Path, name: &str) -> (CertifiedIssuer<'static, KeyPair>, PathBuf) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, issuer.pem()).unwrap();
    (issuer, path)
}

fn config(dir: &Path, name: &str, lines: &[(&str, &Path)]) -> String {
    let text: String = lines
        .iter()
        .map(|(key, path)| format!("{key} = {:?}\n", path.display().to_string()))
        .collect();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn channel(
    url: &str,
    ca: &Path,
    identity: Option<&(PathBuf, PathBuf)>,
) -> Result<Channel, String> {
    let mut tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(cert).unwrap(),
            std::fs::read(key).unwrap(),
        ));
    }
    Endpoint::from_shared(url.to_owned())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|error| format!("{error:?}"))
}

/// The code a call's refusal carries, or "OK".
fn outcome<T>(result: Result<tonic::Response<T>, tonic::Status>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(status) => from_status(&status).name().to_owned(),
    }
}

#[test]
fn callers_are_identified_by_client_certificate_and_shards_require_one() {
    let dir = scratch();
    let tls = dir.path().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let (cluster_ca, ca_path) = ca(&tls, "ca");
    let (rogue_ca, _) = ca(&tls, "rogue-ca");
    use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    let shard_cert = leaf(&tls, "shard", &cluster_ca, vec![ServerAuth]);
    // The gateway presents its own certificate to the shards.
    let gateway_cert = leaf(&tls, "gateway", &cluster_ca, vec![ServerAuth, ClientAuth]);
    let agency = leaf(&tls, "agency", &cluster_ca, vec![ClientAuth]);
    let unbound = leaf(&tls, "unbound", &cluster_ca, vec![ClientAuth]);
    let rogue = leaf(&tls, "rogue", &rogue_ca, vec![ClientAuth]);

    let data = dir.path().join("data");
    let secrets = dir.path().join("secrets");
    let (data_arg, secrets_arg) = (data.to_str().unwrap(), secrets.to_str().unwrap());
    let shard_config = config(
        &tls,
        "shard",
        &[
            ("tls_cert", &shard_cert.0),
            ("tls_key", &shard_cert.1),
            ("tls_client_ca", &ca_path),
        ],
    );
    let shard = spawn(
        &[
            "shard",
            "--id",
            "shard-0",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_arg,
            "--config",
            &shard_config,
        ],
        dir.path(),
    );
    let gateway_config = config(
        &tls,
        "gateway",
        &[
            ("tls_cert", &gateway_cert.0),
            ("tls_key", &gateway_cert.1),
            ("tls_client_ca", &ca_path),
            ("shard_tls_ca", &ca_path),
        ],
    );
    let shard_entry = format!("shard-0=https://{}", shard.addr);
    let gateway = spawn(
        &[
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_arg,
            "--secrets-dir",
            secrets_arg,
            "--config",
            &gateway_config,
            "--shard",
            &shard_entry,
        ],
        dir.path(),
    );
    let url = format!("https://{}", gateway.addr);

    let keys = |extra: &[&str]| {
        let output = idauth()
            .args([
                "keys",
                "issue",
                "--json",
                "--data-dir",
                data_arg,
                "--secrets-dir",
                secrets_arg,
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let issued = keys(&[
        "--caller",
        "agency-a",
        "--kind",
        "agency",
        "--operations",
        "enrol,verify",
        "--client-cert",
        agency.0.to_str().unwrap(),
    ]);
    assert!(
        issued.get("api_key").is_none(),
        "a certificate credential got a key: {issued}"
    );
    let operator_key = keys(&[
        "--caller",
        "ops",
        "--kind",
        "operator",
        "--operations",
        "operator",
    ])["api_key"]
        .as_str()
        .unwrap()
        .to_owned();

    // The CLI, identified by its certificate alone: enrol and verify go through the
    // gateway to the shard over mTLS.
    let fingers = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fingers");
    let cli = |extra: &[&str]| {
        let output = idauth()
            .args(extra)
            .args([
                "--json",
                "--server",
                &url,
                "--tls-ca",
                ca_path.to_str().unwrap(),
            ])
            .args([
                "--tls-cert",
                agency.0.to_str().unwrap(),
                "--tls-key",
                agency.1.to_str().unwrap(),
            ])
            .env_remove("IDAUTH_API_KEY")
            .env("HOME", dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        (
            output.status.code(),
            text + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let finger = |name: &str| format!("2={}", fingers.join(name).display());
    let (code, text) = cli(&[
        "enrol",
        "--id",
        "7007",
        "--finger",
        &finger("asha-1.iso"),
        "--name",
        "Asha",
    ]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = cli(&["verify", "--id", "7007", "--finger", &finger("asha-2.iso")]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("\"receipt_valid\":true"), "{text}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The certificate's credential applies: agency-a may verify, not operate.
        let as_agency = channel(&url, &ca_path, Some(&agency)).await.unwrap();
        let keys_call = AuthClient::new(as_agency.clone())
            .service_keys(v1::ServiceKeysRequest {})
            .await;
        assert_eq!(outcome(keys_call), "OK");
        let status = OperatorClient::new(as_agency)
            .shard_status(v1::ShardStatusRequest {})
            .await;
        assert_eq!(outcome(status), "OPERATION_NOT_ALLOWED");

        // A certificate of the CA that no credential names, and no certificate at all.
        let as_unbound = channel(&url, &ca_path, Some(&unbound)).await.unwrap();
        let call = AuthClient::new(as_unbound)
            .service_keys(v1::ServiceKeysRequest {})
            .await;
        assert_eq!(outcome(call), "CREDENTIAL_UNKNOWN");
        let anonymous = channel(&url, &ca_path, None).await.unwrap();
        let call = AuthClient::new(anonymous.clone())
            .service_keys(v1::ServiceKeysRequest {})
            .await;
        assert_eq!(outcome(call), "CREDENTIAL_MISSING");

        // An API key still identifies its caller over TLS.
        let mut request = tonic::Request::new(v1::ShardStatusRequest {});
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {operator_key}").parse().unwrap(),
        );
        let status = OperatorClient::new(anonymous)
            .shard_status(request)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status.shards.len(), 1);
        assert!(
            status.shards[0].reachable,
            "the gateway cannot reach its shard over mTLS"
        );
        assert_eq!(status.shards[0].residents, 1);

        // A certificate from another CA fails the handshake: either the connection
        // or the first call on it fails at the transport, never with an idauth code.
        if let Ok(rogue_channel) = channel(&url, &ca_path, Some(&rogue)).await {
            let call = AuthClient::new(rogue_channel)
                .service_keys(v1::ServiceKeysRequest {})
                .await;
            match call {
                Ok(_) => panic!("a foreign certificate was accepted"),
                // Every idauth refusal carries an Error detail; transport ones none.
                Err(status) => assert!(
                    status.details().is_empty(),
                    "a foreign certificate reached the service: {status:?}"
                ),
            }
        }

        // The shard takes no call without a cluster certificate.
        let shard_url = format!("https://{}", shard.addr);
        let bare = channel(&shard_url, &ca_path, None).await;
        if let Ok(bare_channel) = bare {
            let call = idauth_proto::internal::shard_client::ShardClient::new(bare_channel)
                .status(idauth_proto::internal::StatusQuery {})
                .await;
            assert!(
                call.is_err(),
                "the shard answered a caller without a certificate"
            );
        }
        let with_cert = channel(&shard_url, &ca_path, Some(&gateway_cert))
            .await
            .unwrap();
        let call = idauth_proto::internal::shard_client::ShardClient::new(with_cert)
            .status(idauth_proto::internal::StatusQuery {})
            .await;
        assert_eq!(outcome(call), "OK");
    });
}
