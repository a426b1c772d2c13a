//! `taskhook export`: HAR 1.2, JSON lines or a curl script on stdout, streamed row by row.

use crate::cli::ExportArgs;
use crate::export;
use crate::store::{RequestFilter, Store};

pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let store = Store::open_read_only(&args.db)?;
    let filter = RequestFilter {
        limit: args.limit.clamp(1, 10_000),
        task_sid: args.task.clone(),
        kind: args.kind,
        ..RequestFilter::default()
    };
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    export::write_export(&store, &filter, args.format, &args.base, out)?;
    Ok(())
}
