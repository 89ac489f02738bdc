use super::*;

fn strings(values: &[&str]) -> StringColumn {
    let mut column = StringColumn::default();
    values.iter().for_each(|v| column.push(v));
    column
}

/// One column of every type, NULLs in two of them, multi-byte symbols.
fn sample_batch() -> RowBatch {
    let column = |values, nulls| BatchColumn { values, nulls };
    RowBatch {
        columns: vec![
            column(
                ColumnValues::Symbol(strings(&["AAPL", "", "Ünï", "MSFT", "日本"])),
                None,
            ),
            column(
                ColumnValues::Timestamp(vec![1, 2, 3, i64::MIN, i64::MAX]),
                None,
            ),
            column(
                ColumnValues::Int64(vec![-1, 0, 1, 7, 9]),
                Some(vec![false, true, false, false, true]),
            ),
            column(
                ColumnValues::Int32(vec![i32::MIN, -2, 0, 2, i32::MAX]),
                None,
            ),
            column(
                ColumnValues::Float64(vec![1.5, -0.0, f64::MAX, f64::MIN_POSITIVE, 0.0]),
                Some(vec![true; 5]),
            ),
            column(
                ColumnValues::Float32(vec![0.25, -3.0, f32::MAX, 1e-7, 0.0]),
                None,
            ),
            column(
                ColumnValues::Bool(vec![true, false, true, true, false]),
                None,
            ),
        ],
        rows_count: 5,
    }
}

fn encode(batch: &RowBatch, rows: Option<&[u32]>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_insert_batch(&mut out, "trades", batch, rows).expect("sample encodes");
    out
}

#[test]
fn insert_batch_round_trips_every_column_type_with_nulls() {
    let batch = sample_batch();
    let payload = encode(&batch, None);
    let (table, decoded) = decode_insert_batch(&payload).expect("decodes");
    assert_eq!(table, "trades");
    assert_eq!(decoded, batch);
    let entry = decode_entry(RecordKind::InsertBatch, &payload).expect("decodes");
    assert_eq!(entry, WalEntry::InsertBatch { table, batch });
}

/// The rows of `batch` listed in `rows`, gathered the slow, obvious way.
fn gather(batch: &RowBatch, rows: &[u32]) -> RowBatch {
    fn pick<T: Copy>(values: &[T], rows: &[u32]) -> Vec<T> {
        rows.iter().map(|r| values[*r as usize]).collect()
    }
    let columns = batch
        .columns
        .iter()
        .map(|column| {
            let values = match &column.values {
                ColumnValues::Int64(v) => ColumnValues::Int64(pick(v, rows)),
                ColumnValues::Int32(v) => ColumnValues::Int32(pick(v, rows)),
                ColumnValues::Float64(v) => ColumnValues::Float64(pick(v, rows)),
                ColumnValues::Float32(v) => ColumnValues::Float32(pick(v, rows)),
                ColumnValues::Bool(v) => ColumnValues::Bool(pick(v, rows)),
                ColumnValues::Timestamp(v) => ColumnValues::Timestamp(pick(v, rows)),
                ColumnValues::Symbol(v) => {
                    let texts: Vec<&str> = rows.iter().map(|r| v.get(*r as usize)).collect();
                    ColumnValues::Symbol(strings(&texts))
                }
            };
            let nulls = column.nulls.as_ref().map(|mask| pick(mask, rows));
            BatchColumn { values, nulls }
        })
        .collect();
    RowBatch {
        columns,
        rows_count: rows.len(),
    }
}

#[test]
fn insert_batch_gathers_only_the_listed_rows() {
    let batch = sample_batch();
    for rows in [&[4u32, 0, 2, 2][..], &[1, 3], &[3], &[]] {
        let (_, decoded) = decode_insert_batch(&encode(&batch, Some(rows))).expect("decodes");
        assert_eq!(decoded, gather(&batch, rows));
    }
}

#[test]
fn encode_rejects_bad_row_index_and_ragged_columns_leaving_out_unchanged() {
    let batch = sample_batch();
    let mut out = vec![9u8; 3];
    let error = encode_insert_batch(&mut out, "t", &batch, Some(&[0, 5])).expect_err("index 5");
    assert_eq!(
        error,
        CodecError::BadRowIndex {
            row_index: 5,
            rows_count: 5
        }
    );
    assert_eq!(out, vec![9u8; 3]);
    let mut ragged = batch.clone();
    ragged.columns[3].values = ColumnValues::Int32(vec![1]);
    let error = encode_insert_batch(&mut out, "t", &ragged, None).expect_err("ragged");
    assert!(matches!(
        error,
        CodecError::CountMismatch {
            what: "column values",
            ..
        }
    ));
    let long_name = "x".repeat(NAME_SIZE_MAX + 1);
    let error = encode_insert_batch(&mut out, &long_name, &batch, None).expect_err("long");
    assert!(matches!(error, CodecError::TooLarge { .. }));
    assert_eq!(out, vec![9u8; 3]);
}

#[test]
fn decode_rejects_every_truncation_without_panicking() {
    let payload = encode(&sample_batch(), None);
    for size in 0..payload.len() {
        let error = decode_insert_batch(&payload[..size]).expect_err("truncated");
        assert!(
            matches!(error, CodecError::Truncated { .. }),
            "size {size}: {error:?}"
        );
    }
    let mut long = payload.clone();
    long.push(0);
    assert_eq!(
        decode_insert_batch(&long),
        Err(CodecError::TrailingBytes {
            offset: payload.len(),
            count: 1
        })
    );
}

#[test]
fn decode_never_panics_on_flipped_bytes() {
    let payload = encode(&sample_batch(), None);
    for index in 0..payload.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bytes = payload.clone();
            bytes[index] ^= mask;
            // Either a typed error or some batch: never a panic or a huge allocation.
            let _ = decode_insert_batch(&bytes);
        }
    }
}

/// Offset of the first column's tag: version, table str16, rows_count u32, columns_count u16.
fn first_column_offset() -> usize {
    1 + 2 + "trades".len() + 4 + 2
}

#[test]
fn decode_reports_bad_tags() {
    let payload = encode(&sample_batch(), None);
    let mut bad_version = payload.clone();
    bad_version[0] = 9;
    assert!(matches!(
        decode_insert_batch(&bad_version),
        Err(CodecError::BadTag {
            what: "payload version",
            tag: 9,
            ..
        })
    ));
    let mut bad_type = payload.clone();
    bad_type[first_column_offset()] = 42;
    assert!(matches!(
        decode_insert_batch(&bad_type),
        Err(CodecError::BadTag {
            what: "column type",
            tag: 42,
            ..
        })
    ));
    let mut bad_flag = payload.clone();
    bad_flag[first_column_offset() + 1] = 2;
    assert!(matches!(
        decode_insert_batch(&bad_flag),
        Err(CodecError::BadTag {
            what: "null mask flag",
            ..
        })
    ));
    let mut bad_bool = payload.clone();
    let last_bool = bad_bool.len() - 1;
    bad_bool[last_bool] = 7;
    assert!(matches!(
        decode_insert_batch(&bad_bool),
        Err(CodecError::BadTag {
            what: "bool value",
            tag: 7,
            ..
        })
    ));
}

/// A one-column symbol batch, and the offset of its string bytes.
fn symbol_payload(values: &[&str]) -> (Vec<u8>, usize) {
    let batch = RowBatch {
        columns: vec![BatchColumn {
            values: ColumnValues::Symbol(strings(values)),
            nulls: None,
        }],
        rows_count: values.len(),
    };
    let payload = encode(&batch, None);
    let text_size: usize = values.iter().map(|v| v.len()).sum();
    let text_offset = payload.len() - text_size;
    (payload, text_offset)
}

#[test]
fn decode_reports_bad_utf8_and_split_characters() {
    let (mut payload, text_offset) = symbol_payload(&["ab", "cd"]);
    payload[text_offset + 1] = 0xff;
    assert!(matches!(
        decode_insert_batch(&payload),
        Err(CodecError::BadUtf8 {
            what: "symbol bytes",
            ..
        })
    ));
    // "é" is two bytes; an end offset of 1 splits it.
    let (mut payload, text_offset) = symbol_payload(&["é", ""]);
    let first_end = text_offset - 8;
    payload[first_end..first_end + 4].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(
        decode_insert_batch(&payload),
        Err(CodecError::BadUtf8 {
            what: "symbol boundary",
            ..
        })
    ));
    let mut bad_name = encode(&sample_batch(), None);
    bad_name[3] = 0xc3; // A lone lead byte in "trades".
    assert!(matches!(
        decode_insert_batch(&bad_name),
        Err(CodecError::BadUtf8 {
            what: "table name",
            ..
        })
    ));
}

#[test]
fn decode_reports_count_mismatches() {
    let (payload, text_offset) = symbol_payload(&["ab", "cd"]);
    let mut backwards = payload.clone();
    backwards[text_offset - 4..text_offset].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(
        decode_insert_batch(&backwards),
        Err(CodecError::CountMismatch {
            what: "symbol offset",
            ..
        })
    ));
    let mut short_end = payload.clone();
    short_end[text_offset - 4..text_offset].copy_from_slice(&3u32.to_le_bytes());
    assert!(matches!(
        decode_insert_batch(&short_end),
        Err(CodecError::CountMismatch {
            what: "symbol bytes_size vs last offset",
            ..
        })
    ));
    let mut huge_rows = encode(&sample_batch(), None);
    huge_rows[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode_insert_batch(&huge_rows),
        Err(CodecError::Truncated { .. })
    ));
}

#[test]
fn decode_rejects_null_bitmap_padding_bits() {
    let batch = sample_batch();
    let payload = encode(&batch, None);
    // Column 0 is a symbol column without nulls; find column 2's bitmap by re-encoding a prefix.
    let prefix = RowBatch {
        columns: batch.columns[..2].to_vec(),
        rows_count: 5,
    };
    let bitmap_offset = encode(&prefix, None).len() + 2;
    let mut bad = payload.clone();
    bad[bitmap_offset] |= 0x80; // Row 7 of a 5-row batch.
    assert!(matches!(
        decode_insert_batch(&bad),
        Err(CodecError::BadTag {
            what: "null bitmap padding",
            ..
        })
    ));
}

#[test]
fn schema_drop_and_checkpoint_round_trip() {
    let schema = TableSchema {
        name: "quotes".into(),
        columns: [
            ("symbol", DataType::Symbol),
            ("ts", DataType::Timestamp),
            ("bid", DataType::Float64),
            ("n", DataType::UInt64),
            ("q", DataType::Int32),
            ("x", DataType::Float32),
            ("b", DataType::Bool),
            ("i", DataType::Int64),
        ]
        .into_iter()
        .map(|(name, data_type)| ColumnDef {
            name: name.into(),
            data_type,
        })
        .collect(),
        symbol_index: 0,
        timestamp_index: 1,
        ttl_seconds: Some(3_600),
    };
    let mut out = Vec::new();
    encode_create_table(&mut out, &schema, true).expect("encodes");
    let entry = decode_entry(RecordKind::CreateTable, &out).expect("decodes");
    assert_eq!(
        entry,
        WalEntry::CreateTable {
            schema: schema.clone(),
            if_not_exists: true
        }
    );
    for size in 0..out.len() {
        assert!(decode_entry(RecordKind::CreateTable, &out[..size]).is_err());
    }
    let mut bad_index = out.clone();
    // symbol_index u16 | timestamp_index u16 | ttl_seconds u64 end the payload.
    let at = bad_index.len() - 12;
    bad_index[at..at + 2].copy_from_slice(&8u16.to_le_bytes());
    assert!(matches!(
        decode_entry(RecordKind::CreateTable, &bad_index),
        Err(CodecError::CountMismatch { .. })
    ));

    out.clear();
    encode_drop_table(&mut out, "quotes", false).expect("encodes");
    let entry = decode_entry(RecordKind::DropTable, &out).expect("decodes");
    assert_eq!(
        entry,
        WalEntry::DropTable {
            table: "quotes".into(),
            if_exists: false
        }
    );

    out.clear();
    encode_checkpoint(&mut out, 77);
    assert_eq!(
        decode_entry(RecordKind::Checkpoint, &out),
        Ok(WalEntry::Checkpoint { covered_lsn: 77 })
    );
    assert!(decode_entry(RecordKind::Checkpoint, &out[..5]).is_err());
}

#[test]
fn set_ttl_round_trips_and_rejects_truncation() {
    for ttl in [Some(86_400), None] {
        let mut out = Vec::new();
        encode_set_ttl(&mut out, "quotes", ttl).expect("encodes");
        let entry = decode_entry(RecordKind::SetTtl, &out).expect("decodes");
        assert_eq!(
            entry,
            WalEntry::SetTtl {
                table: "quotes".into(),
                ttl_seconds: ttl
            }
        );
        for size in 0..out.len() {
            assert!(decode_entry(RecordKind::SetTtl, &out[..size]).is_err());
        }
    }
}
