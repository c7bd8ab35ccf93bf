//! The writing side: the writer thread, and the Chrome trace event JSON
//! it writes (`{"traceEvents":[...]}`, timestamps in microseconds).
//!
//! The JSON is written by hand, not through serde: the events are a
//! dozen fixed shapes of numbers and a few strings, and the runtime takes
//! no serialisation dependency for them. Every string that comes from
//! data (goroutine and thread names, source paths) goes through
//! [`Escaped`].

use super::buffer::{self, Chunk};
use super::{End, Event, Kind, Slice};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Display};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// The file being written, and what it has said so far.
pub(super) struct Json {
    out: BufWriter<File>,
    first: bool,
    /// Tracks whose names are written.
    named: BTreeSet<u32>,
    /// Goroutine names, as looked up in the sink.
    names: BTreeMap<u64, Box<str>>,
}

impl Json {
    /// Creates the file and writes the trace's opening.
    pub(super) fn create(path: &Path) -> io::Result<Json> {
        let mut json = Json {
            out: BufWriter::new(File::create(path)?),
            first: true,
            named: BTreeSet::new(),
            names: BTreeMap::new(),
        };
        json.out.write_all(b"{\"traceEvents\":[\n")?;
        json.event(format_args!(
            "\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{{\"name\":\"goro\"}}"
        ))?;
        json.out.flush()?;
        Ok(json)
    }

    /// Writes one event object with the fields `body`.
    fn event(&mut self, body: fmt::Arguments) -> io::Result<()> {
        let sep = if std::mem::take(&mut self.first) {
            ""
        } else {
            ",\n"
        };
        write!(self.out, "{sep}{{{body}}}")
    }

    /// Writes a chunk's events, naming its track first if it is new.
    fn chunk(&mut self, chunk: &Chunk) -> io::Result<()> {
        let events = chunk.events();
        if self.named.insert(chunk.tid) {
            self.name_track(chunk.tid, &chunk.label)?;
        }
        self.look_up_names(events);
        events.iter().try_for_each(|e| self.write(chunk.tid, e))
    }

    fn name_track(&mut self, tid: u32, label: &str) -> io::Result<()> {
        let head = format!("\"ph\":\"M\",\"pid\":1,\"tid\":{tid}");
        let label = Escaped(label);
        self.event(format_args!(
            "{head},\"name\":\"thread_name\",\"args\":{{\"name\":\"{label}\"}}"
        ))?;
        self.event(format_args!(
            "{head},\"name\":\"thread_sort_index\",\"args\":{{\"sort_index\":{tid}}}"
        ))
    }

    /// Copies from the sink the names of the goroutines whose runs
    /// `events` hold (one lock a chunk).
    fn look_up_names(&mut self, events: &[Event]) {
        let sink = buffer::sink();
        for event in events {
            if let Kind::Run { g, .. } = event.kind {
                if let (false, Some(name)) = (self.names.contains_key(&g), sink.names.get(&g)) {
                    self.names.insert(g, name.clone());
                }
            }
        }
    }

    fn write(&mut self, tid: u32, event: &Event) -> io::Result<()> {
        let head = format!("\"pid\":1,\"tid\":{tid},\"ts\":{}", Micros(event.ts));
        match event.kind {
            Kind::Run { g, dur, end } => self.run(&head, g, dur, end),
            Kind::Wake { id, g } => self.event(format_args!(
                "{head},\"ph\":\"s\",\"name\":\"wake\",\"cat\":\"flow\",\"id\":{id},\
                 \"args\":{{\"g\":{g}}}"
            )),
            Kind::Woken { id } => self.event(format_args!(
                "{head},\"ph\":\"f\",\"bp\":\"e\",\"name\":\"wake\",\"cat\":\"flow\",\"id\":{id}"
            )),
            Kind::Slice { dur, what } => self.slice(&head, dur, what),
            Kind::Steal { victim, g } => self.event(format_args!(
                "{head},\"ph\":\"i\",\"s\":\"t\",\"name\":\"steal\",\"cat\":\"sched\",\
                 \"args\":{{\"victim\":{victim},\"g\":{g}}}"
            )),
            Kind::Scavenge { stacks } => self.event(format_args!(
                "{head},\"ph\":\"i\",\"s\":\"t\",\"name\":\"scavenge\",\"cat\":\"stack\",\
                 \"args\":{{\"stacks\":{stacks}}}"
            )),
            Kind::Counters {
                live,
                runnable,
                parked,
            } => self.event(format_args!(
                "{head},\"ph\":\"C\",\"name\":\"goroutines\",\"args\":{{\"live\":{live},\
                 \"runnable\":{runnable},\"parked\":{parked}}}"
            )),
        }
    }

    /// A goroutine's run: `g12 worker` (id and name), and why it ended.
    fn run(&mut self, head: &str, g: u64, dur: u64, end: End) -> io::Result<()> {
        let name = self.names.get(&g).map(|n| Escaped(n).to_string());
        let title = name.as_ref().map(|n| format!(" {n}")).unwrap_or_default();
        let arg = name
            .map(|n| format!("\"name\":\"{n}\","))
            .unwrap_or_default();
        self.event(format_args!(
            "{head},\"ph\":\"X\",\"dur\":{},\"name\":\"g{g}{title}\",\"cat\":\"run\",\
             \"args\":{{\"g\":{g},{arg}\"end\":\"{}\"}}",
            Micros(dur),
            EndText(end)
        ))
    }

    fn slice(&mut self, head: &str, dur: u64, what: Slice) -> io::Result<()> {
        let (name, cat, args) = match what {
            Slice::Blocking => ("blocking call", "blocking", String::new()),
            Slice::Netpoll { readied, blocking } => (
                if blocking { "netpoll wait" } else { "netpoll" },
                "netpoll",
                format!("\"readied\":{readied}"),
            ),
            Slice::Timers { fired } => ("timers", "timer", format!("\"fired\":{fired}")),
        };
        self.event(format_args!(
            "{head},\"ph\":\"X\",\"dur\":{},\"name\":\"{name}\",\"cat\":\"{cat}\",\
             \"args\":{{{args}}}",
            Micros(dur)
        ))
    }

    /// Writes the count of dropped events and the closing brackets.
    fn finish(mut self, dropped: u64) -> io::Result<()> {
        let ts = Micros(buffer::now());
        self.event(format_args!(
            "\"pid\":1,\"tid\":0,\"ts\":{ts},\"ph\":\"C\",\"name\":\"trace dropped events\",\
             \"args\":{{\"dropped\":{dropped}}}"
        ))?;
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()
    }
}

/// The writer thread: writes chunks as they come until the session
/// closes, then completes the file.
pub(super) fn write_session(mut json: Json) -> io::Result<()> {
    loop {
        let (chunks, closed, dropped) = buffer::take_work();
        for chunk in &chunks {
            json.chunk(chunk)?;
        }
        if closed {
            return json.finish(dropped);
        }
    }
}

/// Nanoseconds shown as microseconds (Chrome's unit), to the nanosecond.
struct Micros(u64);

impl Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// Why a run ended, as its slice says it.
struct EndText(End);

impl Display for EndText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            End::Yield => f.write_str("yield"),
            End::Finish => f.write_str("finish"),
            End::Park(reason, at) => {
                write!(f, "park: {}", reason.as_str())?;
                match at {
                    Some(at) => write!(f, " at {}", Escaped(&at.to_string())),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A string as the inside of a JSON string literal.
#[derive(Clone, Copy)]
struct Escaped<'a>(&'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
                c => write!(f, "{c}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_for_json() {
        let text = Escaped("a\"b\\c\nd\u{1}é").to_string();
        assert_eq!(text, "a\\\"b\\\\c\\u000ad\\u0001é");
    }

    #[test]
    fn nanoseconds_show_as_microseconds() {
        assert_eq!(Micros(1_234_567).to_string(), "1234.567");
        assert_eq!(Micros(5).to_string(), "0.005");
    }
}
