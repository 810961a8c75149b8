//! The deployments the crash harness runs on: `idauth serve` (sled or RADOS) and
//! shard processes behind a gateway.

use std::path::{Path, PathBuf};

use crate::common::service::{Running, idauth, spawn, spawn_with};

/// A deployment under test: started, killed at random, restarted, checked offline.
pub trait Deployment: Send {
    /// What is under test, for the log line.
    fn name(&self) -> &'static str;
    /// Starts every part; the public API's URL.
    fn start(&mut self) -> String;
    /// SIGKILLs the part that holds the data (chosen with `pick` where there are
    /// several) and starts it again; the public API's URL afterwards.
    fn kill_and_restart(&mut self, pick: u64) -> String;
    /// An API key allowed enrolment, verification and history.
    fn api_key(&self) -> String;
    /// SIGKILLs everything (the last crash); the data stays for the offline checks.
    fn kill_all(&mut self);
    /// The data directory `idauth audit verify` reads.
    fn data_dir(&self) -> PathBuf;
    /// The environment the service and `idauth audit verify` need (the store).
    fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// `idauth serve`: gateway and shards in one process on one sled engine (or with
/// `env`, on the store it names).
pub struct Serve {
    dir: PathBuf,
    running: Option<Running>,
    env: Vec<(String, String)>,
}

impl Serve {
    /// `idauth serve` on sled in `dir`.
    pub fn on_sled(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            running: None,
            env: Vec::new(),
        }
    }

    fn spawn(&mut self) -> String {
        let (data, secrets) = (self.dir.join("data"), self.dir.join("secrets"));
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let running = spawn_with(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                data.to_str().unwrap(),
                "--secrets-dir",
                secrets.to_str().unwrap(),
            ],
            &self.dir,
            &env,
        );
        let url = format!("http://{}", running.addr);
        self.running = Some(running);
        url
    }
}

impl Deployment for Serve {
    fn name(&self) -> &'static str {
        "serve on sled"
    }

    fn start(&mut self) -> String {
        self.spawn()
    }

    fn kill_and_restart(&mut self, _pick: u64) -> String {
        self.kill_all();
        self.spawn()
    }

    fn api_key(&self) -> String {
        let key = std::fs::read_to_string(self.dir.join("secrets/dev-credential.key")).unwrap();
        key.trim().to_owned()
    }

    fn kill_all(&mut self) {
        if let Some(mut running) = self.running.take() {
            running.child.kill().unwrap();
            running.child.wait().unwrap();
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }
}

/// `idauth shard` x4 on sled behind `idauth gateway`; a kill takes one shard process.
pub struct ShardProcesses {
    dir: PathBuf,
    ports: Vec<u16>,
    shards: Vec<Option<Running>>,
    gateway: Option<Running>,
    api_key: String,
}

impl ShardProcesses {
    /// Four shard processes and a gateway in `dir`.
    pub fn new(dir: &Path) -> Self {
        let ports = (0..4)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            })
            .collect();
        Self {
            dir: dir.to_owned(),
            ports,
            shards: (0..4).map(|_| None).collect(),
            gateway: None,
            api_key: String::new(),
        }
    }

    fn spawn_shard(&mut self, i: usize) {
        let data = self.dir.join("data");
        let listen = format!("127.0.0.1:{}", self.ports[i]);
        let id = format!("shard-{i}");
        let args = [
            "shard",
            "--id",
            &id,
            "--listen",
            &listen,
            "--data-dir",
            data.to_str().unwrap(),
        ];
        self.shards[i] = Some(spawn(&args, &self.dir));
    }
}

impl Deployment for ShardProcesses {
    fn name(&self) -> &'static str {
        "shard processes on sled"
    }

    fn start(&mut self) -> String {
        let (data, secrets) = (self.dir.join("data"), self.dir.join("secrets"));
        let (data, secrets) = (data.to_str().unwrap(), secrets.to_str().unwrap());
        let output = idauth()
            .args(["keys", "issue", "--caller", "crash", "--kind", "operator"])
            .args(["--operations", "enrol,verify,history,operator"])
            .args(["--quota", "100000", "--plain-probes", "--json"])
            .args(["--factors", "fingerprint,name"])
            .args(["--data-dir", data, "--secrets-dir", secrets])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let issued: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        self.api_key = issued["api_key"].as_str().unwrap().to_owned();
        for i in 0..4 {
            self.spawn_shard(i);
        }
        let mut args = vec![
            "gateway".to_owned(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data.into(),
            "--secrets-dir".into(),
            secrets.into(),
        ];
        for (i, port) in self.ports.iter().enumerate() {
            args.push("--shard".into());
            args.push(format!("shard-{i}=http://127.0.0.1:{port}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let gateway = spawn(&args, &self.dir);
        let url = format!("http://{}", gateway.addr);
        self.gateway = Some(gateway);
        url
    }

    fn kill_and_restart(&mut self, pick: u64) -> String {
        let i = (pick % 4) as usize;
        if let Some(mut shard) = self.shards[i].take() {
            shard.child.kill().unwrap();
            shard.child.wait().unwrap();
        }
        self.spawn_shard(i);
        format!("http://{}", self.gateway.as_ref().unwrap().addr)
    }

    fn api_key(&self) -> String {
        self.api_key.clone()
    }

    fn kill_all(&mut self) {
        for running in self.shards.iter_mut().filter_map(Option::take) {
            let mut running = running;
            running.child.kill().unwrap();
            running.child.wait().unwrap();
        }
        self.gateway = None;
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
}

/// `idauth serve --store rados` on the Ceph test cluster; a kill takes the service or,
/// every other time, one OSD (SIGKILL, then started again on its data).
#[cfg(feature = "rados")]
pub struct ServeOnRados {
    serve: Serve,
    conf: PathBuf,
    kills: u64,
}

#[cfg(feature = "rados")]
impl ServeOnRados {
    /// The service in `dir`, its residents in a fresh namespace of the cluster of `conf`.
    pub fn new(dir: &Path, conf: &Path) -> Self {
        let env = vec![
            ("IDAUTH_STORE".to_owned(), "rados".to_owned()),
            ("IDAUTH_RADOS_CONF".to_owned(), conf.display().to_string()),
            (
                "IDAUTH_RADOS_NAMESPACE".to_owned(),
                crate::common::ceph::fresh_namespace(),
            ),
            ("IDAUTH_RADOS_OP_TIMEOUT_MS".to_owned(), "1500".to_owned()),
        ];
        Self {
            serve: Serve {
                dir: dir.to_owned(),
                running: None,
                env,
            },
            conf: conf.to_owned(),
            kills: 0,
        }
    }
}

#[cfg(feature = "rados")]
impl Deployment for ServeOnRados {
    fn name(&self) -> &'static str {
        "serve on RADOS, SIGKILL of the service and of OSDs"
    }

    fn start(&mut self) -> String {
        self.serve.start()
    }

    fn kill_and_restart(&mut self, pick: u64) -> String {
        self.kills += 1;
        if self.kills % 2 == 1 {
            return self.serve.kill_and_restart(pick);
        }
        let osds = crate::ceph_faults::osd_ids(&self.conf);
        let osd = osds[(pick % osds.len() as u64) as usize].to_string();
        crate::ceph_faults::cluster_script(&self.conf, &["osd-kill", &osd]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        crate::ceph_faults::cluster_script(&self.conf, &["osd-start", &osd]);
        self.serve
            .running
            .as_ref()
            .map(|r| format!("http://{}", r.addr))
            .unwrap()
    }

    fn api_key(&self) -> String {
        self.serve.api_key()
    }

    fn kill_all(&mut self) {
        self.serve.kill_all();
        crate::ceph_faults::cluster_script(&self.conf, &["wait-clean", "300"]);
    }

    fn data_dir(&self) -> PathBuf {
        self.serve.data_dir()
    }

    fn env(&self) -> Vec<(String, String)> {
        self.serve.env()
    }
}
