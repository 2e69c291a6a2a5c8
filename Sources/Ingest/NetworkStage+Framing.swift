// The network stage's framing: checking each frame where it was received, writing its record header
// into the gap before it, and handing the record to the storage stage as segment descriptors (see
// NetworkStage.swift for the layout and the positions).
import Platform
import Wire

extension NetworkStage {
    /// Hands every whole, checked frame received so far to the storage stage, as a record.
    func parse(_ connection: NetworkConnection, now: Int64) {
        var emitted = false
        defer {
            if emitted { engine.lane(connection.slot).bell.ring() }
            releaseConsumedChunks(connection)
        }
        let limit = engine.frameBytesMax
        while true {
            if connection.header == nil {
                guard connection.received >= connection.frameEnd else { return }
                do throws(WireError) {
                    let header = try decodeHeader(connection, payloadBytesMax: limit)
                    try header.checkPlace(streamID: connection.adoption.writer.streamID, nextSequence: connection.nextSequence)
                    connection.header = header
                    connection.crc = header.prefixCRC()
                    connection.checkedThrough = connection.headerStart + UInt64(FrameHeader.byteCount)
                } catch {
                    fail(connection, error)
                    return
                }
            }
            guard let header = connection.header else { return }
            // The checksum takes in each receive's payload bytes while they are still in the cache.
            let through = min(connection.received, connection.frameEnd)
            if through > connection.checkedThrough {
                forEachSegment(connection, from: connection.checkedThrough, count: through - connection.checkedThrough) { chunk, offset, length in
                    unsafe connection.crc.update(UnsafeRawBufferPointer(start: engine.pool.chunk(chunk) + offset, count: length))
                }
                connection.checkedThrough = through
            }
            guard connection.received >= connection.frameEnd else { return }
            let total = connection.frameEnd - connection.parsed
            let segmentCount = Int((total + UInt64(chunkBytes) - 1) / UInt64(chunkBytes)) + 1
            guard engine.lane(connection.slot).toStorage.freeCount >= segmentCount + 1 else {
                connection.parseBlocked = true
                return
            }
            guard connection.crc.value == header.crc else {
                fail(connection, header.crcMismatch)
                return
            }
            storeRecordHeader(connection, hubReceiveNanos: now, frameCRC: header.crc)
            var first = true
            var remaining = total
            forEachSegment(connection, from: connection.parsed, count: total) { chunk, offset, length in
                remaining -= UInt64(length)
                var event = IngestEvent(kind: .segment, slot: connection.slot)
                event.flags = (first ? IngestEvent.frameStart : 0) | (remaining == 0 ? IngestEvent.frameEnd : 0)
                event.chunk = chunk
                event.offset = Int32(offset)
                event.length = Int32(length)
                event.payloadByteCount = Int32(header.payloadByteCount)
                event.sequence = header.sequence
                event.hubReceiveNanos = now
                event.frameCRC = header.crc
                first = false
                chunkReferences[Int(chunk)] += 1
                segmentsInFlight += 1
                pushToStorage(event)
            }
            emitted = true
            connection.parsed += total
            connection.nextSequence += 1
            connection.header = nil
        }
    }

    /// Writes the record header into the gap before the frame (it may straddle two chunks).
    func storeRecordHeader(_ connection: NetworkConnection, hubReceiveNanos: Int64, frameCRC: UInt32) {
        let count = StreamFileFormat.recordHeaderByteCount
        unsafe withUnsafeTemporaryAllocation(byteCount: count, alignment: 8) { bytes in
            unsafe StreamFileFormat.storeRecordHeader(hubReceiveNanos: hubReceiveNanos, frameCRC: frameCRC, into: bytes)
            var done = 0
            forEachSegment(connection, from: connection.parsed, count: UInt64(count)) { chunk, offset, length in
                unsafe (engine.pool.chunk(chunk) + offset).copyMemory(from: bytes.baseAddress! + done, byteCount: length)
                done += length
            }
        }
    }

    /// Decodes the frame header after the record header's gap, gathering its 32 bytes from one or two chunks.
    func decodeHeader(_ connection: NetworkConnection, payloadBytesMax: Int) throws(WireError) -> FrameHeader {
        try unsafe withUnsafeTemporaryAllocation(of: UInt8.self, capacity: FrameHeader.byteCount) { bytes throws(WireError) in
            var filled = 0
            forEachSegment(connection, from: connection.headerStart, count: UInt64(FrameHeader.byteCount)) { chunk, offset, length in
                unsafe UnsafeMutableRawPointer(bytes.baseAddress!).advanced(by: filled)
                    .copyMemory(from: engine.pool.chunk(chunk) + offset, byteCount: length)
                filled += length
            }
            return try FrameHeader.decode(unsafe UnsafeBufferPointer(bytes).span, payloadBytesMax: payloadBytesMax)
        }
    }

    /// Calls `body(chunk, offset, length)` for each piece of stream bytes [from, from + count).
    func forEachSegment(_ connection: NetworkConnection, from: UInt64, count: UInt64, _ body: (Int32, Int, Int) -> Void) {
        var position = from
        let end = from + count
        let size = UInt64(chunkBytes)
        for held in connection.chunks where position < end {
            let chunkEnd = held.start + size
            guard position < chunkEnd else { continue }
            let length = min(end, chunkEnd) - position
            body(held.index, Int(position - held.start), Int(length))
            position += length
        }
        precondition(position == end, "stream bytes outside the held chunks")
    }

    /// Drops the holder reference of chunks whose bytes are all handed on.
    func releaseConsumedChunks(_ connection: NetworkConnection) {
        var dropped = 0
        for held in connection.chunks {
            guard held.start + UInt64(chunkBytes) <= connection.parsed else { break }
            dropReference(held.index)
            dropped += 1
        }
        if dropped > 0 { connection.chunks.removeFirst(dropped) }
    }
}
