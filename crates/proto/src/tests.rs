//! Every message round-trips; every malformed input yields its own error.

use super::*;
use std::io::Cursor;

fn sample_config() -> ContainerConfig {
    ContainerConfig {
        spec: serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": true,
                "user": {"uid": 1000, "gid": 1000},
                "args": ["sh", "-c", "echo out; echo err >&2; exit 3"],
                "env": ["PATH=/bin", "Ü=ünïcode"],
                "cwd": "/work",
                "noNewPrivileges": true,
            },
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "c0ffee",
            "annotations": {"org.isola.user": "1000:1000"},
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "network"}],
                "maskedPaths": ["/proc/kcore"],
                "resources": {"memory": {"limit": 67108864}, "pids": {"limit": -1}},
            },
        }))
        .unwrap(),
        open_stdin: true,
        tty_size: Some(TtySize { rows: 24, cols: 80 }),
        rootfs: Rootfs {
            layers: vec![
                Layer::Disk {
                    serial: "isola-l0".into(),
                    fs: Filesystem::Erofs,
                },
                Layer::Dir {
                    path: "/image".into(),
                },
            ],
            upper: Upper::Disk {
                serial: "isola-upper".into(),
                fs: Filesystem::Ext4,
            },
        },
        time_ns: 1_700_000_000_123_456_789,
        shares: false,
        restart: Default::default(),
        health: None,
    }
}

fn every_message() -> Vec<Message> {
    vec![
        Message::Hello {
            version: VERSION,
            software: "isola-agent 0.1.0".into(),
        },
        Message::StartFailed {
            code: 127,
            message: "exec: \"nope\": executable file not found in $PATH".into(),
        },
        Message::Signal {
            session: 0,
            signal: 15,
        },
        Message::Ok {},
        Message::EndRestarts {},
        Message::Restarting {
            session: MAIN_SESSION,
            code: 1,
        },
        Message::Resize {
            session: 7,
            rows: 50,
            cols: 132,
        },
        Message::Exec(Box::new(ExecConfig {
            session: 7,
            process: ProcessSpec {
                args: vec!["ps".into()],
                user: "nobody".into(),
                ..ProcessSpec::default()
            },
            tty: false,
            stdin: true,
            tty_size: None,
            fs_op: None,
        })),
        Message::ExecStarted { session: 7, pid: 9 },
        Message::ExecFailed {
            session: 7,
            code: 126,
            message: "permission denied".into(),
        },
        Message::Exited {
            session: u32::MAX,
            code: 137,
            oom_killed: true,
        },
        Message::CloseStdin { session: 0 },
        Message::ListProcesses {},
        Message::Processes {
            header: vec!["UID".into(), "PID".into(), "TIME".into(), "CMD".into()],
            rows: vec![vec![
                "root".into(),
                "1".into(),
                "00:00:00".into(),
                "sleep 5".into(),
            ]],
        },
        Message::Shutdown,
        Message::Error {
            message: "no such session 3".into(),
        },
    ]
}

fn encoded(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(frame, &mut out).unwrap();
    out
}

fn read_one(bytes: &[u8]) -> Result<Frame> {
    FrameReader::new(Cursor::new(bytes)).read_frame()
}

/// A raw frame with the given kind and payload.
fn raw(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(kind);
    v.extend_from_slice(payload);
    v
}

#[test]
fn every_message_round_trips_through_writer_and_reader() {
    let msgs = every_message();
    let mut w = FrameWriter::new(Vec::new());
    for m in &msgs {
        w.send(m).unwrap();
    }
    let mut r = FrameReader::new(Cursor::new(w.into_inner()));
    for m in &msgs {
        assert_eq!(&r.read_message().unwrap(), m);
    }
    assert!(matches!(r.read_frame(), Err(Error::Closed)));
}

#[test]
fn every_message_round_trips_through_the_decoder_byte_by_byte() {
    let msgs = every_message();
    let mut bytes = Vec::new();
    for m in &msgs {
        encode_message(m, &mut bytes).unwrap();
    }
    let mut d = Decoder::new();
    let mut got = Vec::new();
    for b in bytes {
        d.feed(&[b]);
        while let Some(f) = d.next_frame().unwrap() {
            got.push(f);
        }
    }
    let want: Vec<Frame> = msgs.into_iter().map(Frame::Control).collect();
    assert_eq!(got, want);
    assert_eq!(d.pending(), 0);
    assert!(matches!(d.finish(), Error::Closed));
}

#[test]
fn json_is_tagged_by_type() {
    let mut out = Vec::new();
    encode_message(&Message::Shutdown, &mut out).unwrap();
    assert_eq!(&out[..5], &[0, 0, 0, 20, KIND_CONTROL]);
    assert_eq!(&out[5..], br#"{"type":"Shutdown"}"#);
    out.clear();
    encode_message(&Message::Ok {}, &mut out).unwrap();
    assert_eq!(&out[5..], br#"{"type":"Ok"}"#);
}

#[test]
fn optional_fields_may_be_omitted_by_older_peers() {
    let json = br#"{"type":"Exited","session":3,"code":1}"#;
    let frame = read_one(&raw(KIND_CONTROL, json)).unwrap();
    assert_eq!(
        frame,
        Frame::Control(Message::Exited {
            session: 3,
            code: 1,
            oom_killed: false
        })
    );
}

#[test]
fn unknown_fields_are_ignored_for_minor_version_additions() {
    let json = br#"{"type":"ExecStarted","session":1,"pid":5,"added_in_2_1":true}"#;
    let frame = read_one(&raw(KIND_CONTROL, json)).unwrap();
    assert_eq!(
        frame,
        Frame::Control(Message::ExecStarted { session: 1, pid: 5 })
    );
}

#[test]
fn stream_data_carries_all_256_byte_values_on_every_stream() {
    let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    for stream in [Stream::Stdin, Stream::Stdout, Stream::Stderr] {
        let frame = Frame::Data {
            session: 0xdead_beef,
            stream,
            data: data.clone(),
        };
        let bytes = encoded(&frame);
        assert_eq!(bytes.len(), 4 + 1 + 5 + data.len());
        assert_eq!(read_one(&bytes).unwrap(), frame);
    }
}

#[test]
fn empty_stream_data_is_a_valid_frame() {
    let frame = Frame::Data {
        session: 1,
        stream: Stream::Stdout,
        data: vec![],
    };
    assert_eq!(read_one(&encoded(&frame)).unwrap(), frame);
}

#[test]
fn long_stream_data_is_split_into_frames_under_the_limit() {
    let data: Vec<u8> = (0..MAX_DATA_CHUNK * 2 + 10).map(|i| i as u8).collect();
    let mut w = FrameWriter::new(Vec::new());
    w.send_data(4, Stream::Stderr, &data).unwrap();
    let mut r = FrameReader::new(Cursor::new(w.into_inner()));
    let mut joined = Vec::new();
    let mut frames = 0;
    loop {
        match r.read_frame() {
            Ok(Frame::Data {
                session: 4,
                stream: Stream::Stderr,
                data,
            }) => {
                assert!(data.len() <= MAX_DATA_CHUNK);
                joined.extend(data);
                frames += 1;
            }
            Err(Error::Closed) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(frames, 3);
    assert_eq!(joined, data);
}

#[test]
fn truncated_frames_are_reported_with_how_much_arrived() {
    let bytes = encoded(&Frame::Control(Message::ExecStarted { session: 1, pid: 1 }));
    // Inside the length prefix.
    assert!(matches!(
        read_one(&bytes[..2]),
        Err(Error::Truncated {
            expected: 4,
            got: 2
        })
    ));
    // Inside the body.
    let cut = bytes.len() - 3;
    match read_one(&bytes[..cut]) {
        Err(Error::Truncated { expected, got }) => {
            assert_eq!(expected, bytes.len());
            assert_eq!(got, cut);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    let mut d = Decoder::new();
    d.feed(&bytes[..cut]);
    assert!(d.next_frame().unwrap().is_none());
    assert!(
        matches!(d.finish(), Error::Truncated { expected, got } if expected == bytes.len() && got == cut)
    );
}

#[test]
fn oversize_length_is_rejected_before_allocating() {
    // 4 GiB - 1: the reader must refuse without trying to allocate it.
    let bytes = [0xff, 0xff, 0xff, 0xff, KIND_CONTROL];
    match read_one(&bytes) {
        Err(Error::FrameTooLarge { len, max }) => {
            assert_eq!(len, u32::MAX as usize);
            assert_eq!(max, MAX_FRAME_LEN);
        }
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
    let just_over = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
    assert!(matches!(
        read_one(&just_over),
        Err(Error::FrameTooLarge { .. })
    ));
    let mut d = Decoder::new();
    d.feed(&bytes);
    assert!(matches!(d.next_frame(), Err(Error::FrameTooLarge { .. })));
}

#[test]
fn a_frame_of_exactly_the_limit_is_accepted() {
    let data = vec![0xa5; MAX_DATA_CHUNK];
    let mut bytes = Vec::new();
    encode_data(2, Stream::Stdout, &data, &mut bytes);
    assert_eq!(bytes.len(), 4 + MAX_FRAME_LEN);
    assert!(matches!(read_one(&bytes), Ok(Frame::Data { data: d, .. }) if d == data));
}

#[test]
fn zero_length_frame_is_rejected() {
    assert!(matches!(read_one(&[0, 0, 0, 0]), Err(Error::EmptyFrame)));
}

#[test]
fn unknown_kind_is_rejected() {
    assert!(matches!(
        read_one(&raw(0x7f, b"x")),
        Err(Error::UnknownKind(0x7f))
    ));
    assert!(matches!(read_one(&raw(0, b"")), Err(Error::UnknownKind(0))));
}

#[test]
fn malformed_data_frames_are_rejected() {
    assert!(matches!(
        read_one(&raw(KIND_DATA, &[0, 0, 0])),
        Err(Error::ShortDataFrame(3))
    ));
    assert!(matches!(
        read_one(&raw(KIND_DATA, &[0, 0, 0, 1, 3, b'x'])),
        Err(Error::UnknownStream(3))
    ));
}

#[test]
fn bad_json_is_rejected_with_serdes_reason() {
    for (payload, needle) in [
        (&b"{not json"[..], "key must be a string"),
        (br#"{"type":"Reboot"}"#, "unknown variant `Reboot`"),
        (
            br#"{"type":"CreateContainer"}"#,
            "unknown variant `CreateContainer`",
        ),
        (
            br#"{"type":"ExecStarted","session":1}"#,
            "missing field `pid`",
        ),
        (
            br#"{"type":"ExecStarted","session":1,"pid":"one"}"#,
            "invalid type",
        ),
        (&[0xff, 0xfe][..], "expected value"),
    ] {
        match read_one(&raw(KIND_CONTROL, payload)) {
            Err(e @ Error::BadMessage(_)) => {
                let s = e.to_string();
                assert!(s.contains(needle), "{s:?} lacks {needle:?}");
            }
            other => panic!("expected BadMessage for {payload:?}, got {other:?}"),
        }
    }
}

#[test]
fn stream_data_where_a_message_is_required_is_an_error() {
    let bytes = encoded(&Frame::Data {
        session: 0,
        stream: Stream::Stdout,
        data: b"hi".to_vec(),
    });
    let mut r = FrameReader::new(Cursor::new(bytes));
    assert!(matches!(
        r.read_message(),
        Err(Error::Unexpected {
            expected: "a control message",
            ..
        })
    ));
}

#[test]
fn hello_with_another_major_version_is_rejected() {
    let theirs = Version {
        major: VERSION.major + 1,
        minor: 0,
    };
    let hello = Message::Hello {
        version: theirs,
        software: String::new(),
    };
    let err = check_hello(&hello).unwrap_err();
    assert!(
        matches!(err, Error::VersionMismatch { ours, theirs: t } if ours == VERSION && t == theirs)
    );
    assert!(err.to_string().contains(&format!(
        "this side speaks {VERSION}, the peer speaks {theirs}"
    )));
}

#[test]
fn hello_with_another_minor_version_is_accepted() {
    let theirs = Version {
        major: VERSION.major,
        minor: VERSION.minor + 3,
    };
    let hello = Message::Hello {
        version: theirs,
        software: String::new(),
    };
    assert_eq!(check_hello(&hello).unwrap(), theirs);
}

#[test]
fn first_message_other_than_hello_is_a_protocol_error() {
    assert!(matches!(
        check_hello(&Message::Shutdown),
        Err(Error::Unexpected {
            expected: "Hello",
            got: "Shutdown"
        })
    ));
}

#[test]
fn oversize_control_message_is_refused_when_encoding() {
    let msg = Message::Error {
        message: "x".repeat(MAX_FRAME_LEN),
    };
    let mut out = Vec::new();
    assert!(matches!(
        encode_message(&msg, &mut out),
        Err(Error::MessageTooLarge { .. })
    ));
    assert!(out.is_empty());
}

#[test]
fn decoder_reports_garbage_after_valid_frames() {
    let mut bytes = encoded(&Frame::Control(Message::Shutdown));
    bytes.extend_from_slice(&raw(0x09, b"?"));
    let mut d = Decoder::new();
    d.feed(&bytes);
    assert_eq!(
        d.next_frame().unwrap(),
        Some(Frame::Control(Message::Shutdown))
    );
    assert!(matches!(d.next_frame(), Err(Error::UnknownKind(9))));
}

#[test]
fn boot_config_round_trips_and_waits_for_attach_only_when_asked() {
    let mut tmpfs = sample_config();
    tmpfs.rootfs.upper = Upper::Tmpfs {
        size_bytes: Some(1 << 30),
    };
    for container in [sample_config(), tmpfs] {
        let boot = layout::BootConfig {
            container,
            wait_for_attach: true,
        };
        let json = serde_json::to_vec(&boot).unwrap();
        let back: layout::BootConfig = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, boot);
    }
    let v = serde_json::to_value(layout::BootConfig {
        container: sample_config(),
        wait_for_attach: false,
    })
    .unwrap();
    assert_eq!(v["container"]["rootfs"]["layers"][0]["kind"], "disk");
    assert_eq!(v["container"]["rootfs"]["layers"][0]["fs"], "erofs");
    assert_eq!(v["container"]["rootfs"]["upper"]["kind"], "disk");
    // An older writer may leave `wait_for_attach` out: start at once.
    let mut v = v;
    v.as_object_mut().unwrap().remove("wait_for_attach");
    let back: layout::BootConfig = serde_json::from_value(v).unwrap();
    assert!(!back.wait_for_attach);
}

#[test]
fn exit_record_is_one_json_line_with_optional_fields() {
    let rec = layout::ExitRecord {
        code: 137,
        oom_killed: true,
        finished_at: "2026-11-27T21:40:00.123456789Z".into(),
        error: String::new(),
    };
    let line = serde_json::to_string(&rec).unwrap();
    assert!(!line.contains('\n'));
    assert_eq!(
        serde_json::from_str::<layout::ExitRecord>(&line).unwrap(),
        rec
    );
    let minimal: layout::ExitRecord =
        serde_json::from_str(r#"{"code":127,"finished_at":"x"}"#).unwrap();
    assert_eq!((minimal.code, minimal.oom_killed), (127, false));
    assert!(minimal.error.is_empty());
}

#[test]
fn control_ports_are_numbered_after_the_prefix() {
    assert_eq!(layout::control_port(0), "org.isola.ctl.0");
    assert_eq!(
        layout::control_port(layout::CONTROL_PORTS - 1),
        format!("org.isola.ctl.{}", layout::CONTROL_PORTS - 1)
    );
}
