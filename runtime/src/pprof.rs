//! Profiles in pprof's format, as Go's `runtime/pprof` writes them, for
//! `go tool pprof`, speedscope, Pyroscope and Grafana.
//!
//! [`goroutine`] writes the goroutine profile: one sample a group of
//! goroutines with the same stack, state and name (from `inspect::groups`
//! over a [`dump`](crate::dump)), its value the count, its labels `state`
//! (the wait reason, Go's words) and `name`. The sample type is
//! `goroutine`/`count`, as Go's. A location is one code address with the
//! frames inlined there (innermost first); a function is a name and file.
//! Strings are interned in the string table, index 0 the empty string, as
//! the format requires. The messages are pprof's `profile.proto`, written
//! out by hand for prost (only the fields goro fills or a reader needs),
//! and the whole is gzipped.

use crate::inspect::{groups, Group};
use crate::traceback::StackFrame;
use flate2::write::GzEncoder;
use prost::Message;
use std::collections::HashMap;
use std::io::{self, Write};

/// pprof's `profile.proto` messages, as prost structs: decode a profile
/// with `prost::Message::decode` on its gunzipped bytes.
pub mod proto {
    /// A profile: its samples and what they refer to (`Profile`).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        /// What each sample value counts.
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        /// The samples.
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        /// The binaries the code addresses are in.
        #[prost(message, repeated, tag = "3")]
        pub mapping: Vec<Mapping>,
        /// The code addresses.
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        /// The functions.
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        /// Every string, referred to by index; the first is empty.
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        /// When it was taken (Unix nanoseconds).
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        /// What the period counts.
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        /// The sampling period (1: every goroutine).
        #[prost(int64, tag = "12")]
        pub period: i64,
    }

    /// A kind of value and its unit, as string-table indices.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        /// The kind (`goroutine`).
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        /// The unit (`count`).
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    /// One sample: a stack and its values.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// The stack's locations, innermost first.
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        /// One value per sample type.
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        /// Its labels.
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    /// A label: key and string value, as string-table indices.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        /// The key.
        #[prost(int64, tag = "1")]
        pub key: i64,
        /// The value.
        #[prost(int64, tag = "2")]
        pub str: i64,
    }

    /// A binary mapped into memory.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Mapping {
        /// Its id (from 1).
        #[prost(uint64, tag = "1")]
        pub id: u64,
        /// Its file name, as a string-table index.
        #[prost(int64, tag = "5")]
        pub filename: i64,
        /// The locations name their functions.
        #[prost(bool, tag = "7")]
        pub has_functions: bool,
        /// The functions name their files.
        #[prost(bool, tag = "8")]
        pub has_filenames: bool,
        /// The lines are known.
        #[prost(bool, tag = "9")]
        pub has_line_numbers: bool,
        /// Inlined frames are listed.
        #[prost(bool, tag = "10")]
        pub has_inline_frames: bool,
    }

    /// A code address and the frames inlined there.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        /// Its id (from 1).
        #[prost(uint64, tag = "1")]
        pub id: u64,
        /// The mapping it is in.
        #[prost(uint64, tag = "2")]
        pub mapping_id: u64,
        /// The address.
        #[prost(uint64, tag = "3")]
        pub address: u64,
        /// Its frames, innermost first.
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
    }

    /// A frame: a function and a line in it.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        /// The function's id.
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        /// The line (0 if unknown).
        #[prost(int64, tag = "2")]
        pub line: i64,
    }

    /// A function.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        /// Its id (from 1).
        #[prost(uint64, tag = "1")]
        pub id: u64,
        /// Its name, as a string-table index.
        #[prost(int64, tag = "2")]
        pub name: i64,
        /// Its symbol's name (the same here).
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        /// Its source file, as a string-table index.
        #[prost(int64, tag = "4")]
        pub filename: i64,
    }
}

use proto::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};

/// Writes the goroutine profile, gzipped, in pprof's format: what
/// `net/http/pprof` serves at `/debug/pprof/goroutine`, read by
/// `go tool pprof` and the profilers that take pprof's format. Goroutines
/// are grouped by stack, state and name, each group a sample with its
/// count and the labels `state` and `name`.
///
/// ```
/// let mut gz = Vec::new();
/// goro::pprof::goroutine(&mut gz).unwrap();
/// assert_eq!(&gz[..2], [0x1f, 0x8b]); // gzip
/// ```
pub fn goroutine(mut w: impl Write) -> io::Result<()> {
    let all = crate::dump();
    // The compressor's state is large: build on a thread's stack, not a
    // goroutine's.
    let gz = crate::blocking(|| {
        let profile = Builder::default().profile(&groups(&all));
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&profile.encode_to_vec())?;
        gz.finish()
    })?;
    w.write_all(&gz)?;
    w.flush()
}

/// Builds a profile, interning strings, functions and locations.
#[derive(Default)]
struct Builder {
    strings: HashMap<String, i64>,
    string_table: Vec<String>,
    functions: HashMap<(i64, i64), u64>,
    function_table: Vec<Function>,
    locations: HashMap<(usize, Vec<(u64, i64)>), u64>,
    location_table: Vec<Location>,
}

impl Builder {
    fn profile(mut self, groups: &[Group<'_>]) -> Profile {
        self.string("");
        let count = ValueType {
            r#type: self.string("goroutine"),
            unit: self.string("count"),
        };
        let exe = std::env::current_exe().unwrap_or_default();
        let mapping = Mapping {
            id: 1,
            filename: self.string(&exe.to_string_lossy()),
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
        };
        let sample = groups.iter().map(|g| self.sample(g)).collect();
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Profile {
            sample_type: vec![count.clone()],
            sample,
            mapping: vec![mapping],
            location: self.location_table,
            function: self.function_table,
            string_table: self.string_table,
            time_nanos: i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX),
            period_type: Some(count),
            period: 1,
        }
    }

    fn sample(&mut self, group: &Group<'_>) -> Sample {
        let mut label = vec![self.label("state", group.state)];
        if let Some(name) = group.name {
            label.push(self.label("name", name));
        }
        let location_id = group
            .stack
            .chunk_by(|a, b| a.pc == b.pc)
            .map(|inlined| self.location(inlined))
            .collect();
        Sample {
            location_id,
            value: vec![group.count as i64],
            label,
        }
    }

    fn label(&mut self, key: &str, value: &str) -> Label {
        Label {
            key: self.string(key),
            str: self.string(value),
        }
    }

    /// The location of frames at one address, innermost first.
    fn location(&mut self, inlined: &[StackFrame]) -> u64 {
        let line: Vec<Line> = inlined
            .iter()
            .map(|frame| Line {
                function_id: self.function(frame),
                line: frame.line.map_or(0, i64::from),
            })
            .collect();
        let pc = inlined[0].pc;
        let next = self.location_table.len() as u64 + 1;
        let key = line.iter().map(|l| (l.function_id, l.line)).collect();
        let id = *self.locations.entry((pc, key)).or_insert(next);
        if id == next {
            self.location_table.push(Location {
                id,
                mapping_id: 1,
                address: pc as u64,
                line,
            });
        }
        id
    }

    fn function(&mut self, frame: &StackFrame) -> u64 {
        let name = self.string(&frame.function);
        let filename = self.string(frame.file.as_deref().unwrap_or(""));
        let next = self.function_table.len() as u64 + 1;
        let id = *self.functions.entry((name, filename)).or_insert(next);
        if id == next {
            self.function_table.push(Function {
                id,
                name,
                system_name: name,
                filename,
            });
        }
        id
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(&index) = self.strings.get(s) {
            return index;
        }
        let index = self.string_table.len() as i64;
        self.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), index);
        index
    }
}
