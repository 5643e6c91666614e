//! An s3s-fs server on 127.0.0.1:0 that records what each PutObject asked for.
//! Shared by the S3 and bucket router tests; each uses part of it.
#![allow(dead_code)]

use object_store::client::{DnsFuture, DnsResolver};
use s3s::dto::{
    CreateBucketInput, CreateBucketOutput, DeleteObjectInput, DeleteObjectOutput, GetObjectInput,
    GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput,
    PutObjectInput, PutObjectOutput,
};
use s3s::{S3, S3Request, S3Response, S3Result};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// What one PutObject carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordedPut {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) acl: Option<String>,
    pub(crate) storage_class: Option<String>,
    pub(crate) tagging: Option<String>,
}

/// s3s-fs, forwarding the operations the crate uses and recording puts.
struct Recording {
    fs: s3s_fs::FileSystem,
    puts: Arc<Mutex<Vec<RecordedPut>>>,
}

#[async_trait::async_trait]
impl S3 for Recording {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.fs.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.fs.head_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = &req.input;
        let record = RecordedPut {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            acl: input.acl.as_ref().map(|acl| acl.as_str().to_owned()),
            storage_class: input
                .storage_class
                .as_ref()
                .map(|class| class.as_str().to_owned()),
            tagging: input.tagging.clone(),
        };
        self.puts.lock().unwrap().push(record);
        self.fs.put_object(req).await
    }
}

/// A running server; stops when dropped.
pub(crate) struct S3Server {
    pub(crate) port: u16,
    root: tempfile::TempDir,
    puts: Arc<Mutex<Vec<RecordedPut>>>,
    task: tokio::task::JoinHandle<()>,
}

impl S3Server {
    /// Starts a server accepting only `access`/`secret`, with these buckets; `vhost`
    /// also accepts virtual-hosted requests for `BUCKET.localhost:PORT`.
    pub(crate) async fn start(access: &str, secret: &str, buckets: &[&str], vhost: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let root = tempfile::tempdir().unwrap();
        for bucket in buckets {
            std::fs::create_dir_all(root.path().join(bucket)).unwrap();
        }
        let puts = Arc::new(Mutex::new(Vec::new()));
        let recording = Recording {
            fs: s3s_fs::FileSystem::new(root.path()).unwrap(),
            puts: Arc::clone(&puts),
        };
        let mut builder = s3s::service::S3ServiceBuilder::new(recording);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(access, secret));
        if vhost {
            let domain = format!("localhost:{port}");
            builder.set_host(s3s::host::MultiDomain::new([domain]).unwrap());
        }
        let service = builder.build();
        let task = tokio::spawn(async move {
            let http =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let conn = http
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Self {
            port,
            root,
            puts,
            task,
        }
    }

    /// `http://127.0.0.1:PORT` (path style).
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://localhost:PORT` (virtual-hosted style puts the bucket in front).
    pub(crate) fn host_endpoint(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// The file backing `bucket/key`.
    pub(crate) fn file(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.path().join(bucket).join(key)
    }

    /// Stores an object by writing its file.
    pub(crate) fn seed(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let path = self.file(bucket, key);
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// The PutObject requests seen so far.
    pub(crate) fn puts(&self) -> Vec<RecordedPut> {
        self.puts.lock().unwrap().clone()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Resolves every `*.localhost` name to 127.0.0.1 (glibc here does not).
#[derive(Debug)]
pub(crate) struct LoopbackResolver;

impl DnsResolver for LoopbackResolver {
    fn resolve(&self, host: &str) -> DnsFuture {
        let known = host == "localhost" || host.ends_with(".localhost");
        let host = host.to_owned();
        Box::pin(async move {
            if known {
                Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
            } else {
                Err(format!("test resolver: unknown host {host}").into())
            }
        })
    }
}
