//! An [`ObjectStore`] over a local directory that writes whole objects its own way and hands
//! everything else (multipart writes, reads, lists, deletes, copies) to the
//! [`LocalFileSystem`] underneath.

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use std::fmt;

/// How a [`LocalWriterStore`] writes whole objects, and the directory it reads from.
#[async_trait]
pub(crate) trait LocalWriter: fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// The directory every operation other than [`LocalWriter::put_opts`] goes to.
    fn local(&self) -> &LocalFileSystem;

    /// Writes one whole object, as [`ObjectStore::put_opts`] does.
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult>;
}

/// Makes a [`LocalWriter`] an [`ObjectStore`]. Shown (`Debug`, `Display`) as the writer is.
#[derive(Clone)]
pub(crate) struct LocalWriterStore<W>(pub(crate) W);

impl<W: fmt::Debug> fmt::Debug for LocalWriterStore<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<W: fmt::Display> fmt::Display for LocalWriterStore<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[async_trait]
impl<W: LocalWriter> ObjectStore for LocalWriterStore<W> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.0.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.0.local().put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.0.local().get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.0.local().delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.0.local().list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.0.local().list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.0.local().copy_opts(from, to, options).await
    }
}
