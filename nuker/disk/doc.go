// Package disk is faultline's disk-fault filesystem: a FUSE filesystem that
// passes every operation through to a backing directory and remembers, exactly,
// what the programs using it have not yet made durable, so that a power failure
// can be simulated by dropping it.
//
// File data is durable once fsync or fdatasync returns on any handle of the
// file, or once a write through a handle opened with O_SYNC or O_DSYNC
// returns. Writes go to the backing file at once (so reads need no merging);
// before a write or truncate changes bytes that were durable, the old bytes
// are kept in an undo record, and a power failure writes them back in reverse
// order and truncates the file to its durable size.
//
// Directory entries (create, mkdir, mknod, symlink, link, unlink, rmdir,
// rename) are durable at once unless Options.Dirs is set, as in LazyFS, which
// keeps only file data in its cache. With Dirs set they are durable only after
// fsync of a directory they change: that fsync makes every pending entry up to
// the last one touching the directory durable, in order (as a journaling
// filesystem commits its journal), so pending entries are always the newest
// ones and a power failure undoes them newest first. Unlinked and replaced
// entries wait in a trash directory until then.
//
// Faults other than power failure are switches: ENOSPC on writes and creates,
// EIO on reads or on fsync, and a delay added to every data operation. Each is
// undone by switching it off, which restores plain passthrough. Corruption
// (Corrupt) flips bits in, or truncates, the backing files and answers what
// it changed; nothing undoes it. A running
// filesystem is driven through a line protocol on a unix socket (ServeControl,
// Send).
package disk
