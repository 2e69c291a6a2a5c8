// The network stage's receiving: posting each connection's next receive into the file's layout,
// granting chunks and queueing connections when the pool is dry (see NetworkStage.swift).
import Platform
import Wire

extension NetworkStage {
    /// Posts the next receive (up to the end of the frame header or frame being received, and of the
    /// chunk), into the current chunk or a new one; waits for chunks when the pool is dry.
    func startReceive(_ connection: NetworkConnection) {
        guard !connection.receiving, !connection.waiting, !connection.ending, !connection.parseBlocked else { return }
        // A new frame's bytes start after the gap for its record header.
        connection.received = max(connection.received, connection.headerStart)
        if connection.received >= connection.chunksEnd {
            if let next = connection.reserved.popLast() {
                connection.appendChunk(next, byteCount: chunkBytes)
            } else {
                let need = chunksNeeded(connection)
                guard waiters.isEmpty, freeChunks.count >= need else {
                    connection.waiting = true
                    waiters.append(connection.slot)
                    engine.statistics.backpressureWaits.add(1, ordering: .relaxed)
                    return
                }
                grant(need, to: connection)
            }
        }
        let current = connection.chunks[connection.chunks.count - 1]
        let fill = Int(connection.received - current.start)
        let count = Int(min(connection.frameEnd, current.start + UInt64(chunkBytes)) - connection.received)
        let target = unsafe engine.pool.chunk(current.index) + fill
        let queued = prepare {
            unsafe ring.prepareReceive(
                fd: connection.adoption.fd, buffer: target, count: UInt32(count),
                userData: NetworkStage.receiveTag | UInt64(connection.slot))
        }
        // Not queued: try again on the next turn of the loop (retryBlocked).
        if queued { connection.receiving = true } else { connection.parseBlocked = true }
    }

    /// Chunks this connection needs to finish the frame (or frame header) it is in (at least one).
    func chunksNeeded(_ connection: NetworkConnection) -> Int {
        let end = connection.chunksEnd
        guard connection.frameEnd > end else { return 1 }
        return max(1, Int((connection.frameEnd - end + UInt64(chunkBytes) - 1) / UInt64(chunkBytes)))
    }

    /// Gives the connection `count` chunks: the next one at once, the rest reserved for the frame.
    /// Chunks follow each other in layout positions, so a record may run from one into the next.
    func grant(_ count: Int, to connection: NetworkConnection) {
        for index in 0..<count {
            let chunk = freeChunks.removeLast()
            chunkReferences[Int(chunk)] = 1
            if index == 0 { connection.appendChunk(chunk, byteCount: chunkBytes) } else { connection.reserved.append(chunk) }
        }
    }

    /// Grants chunks to waiters in arrival order; ends the newest waiter when nothing can ever free one.
    func serveWaiters() {
        while let first = waiters.first {
            guard let connection = connections[Int(first)], connection.waiting else {
                waiters.removeFirst()
                continue
            }
            let need = chunksNeeded(connection)
            if freeChunks.count >= need {
                waiters.removeFirst()
                connection.waiting = false
                grant(need, to: connection)
                startReceive(connection)
                continue
            }
            if segmentsInFlight == 0, let newest = waiters.popLast(), let victim = connections[Int(newest)] {
                victim.waiting = false
                victim.failure = WireError(
                    .hubFull, "ingest buffer pool exhausted (\(engine.pool.chunkCount) chunks of \(chunkBytes) bytes); reconnect and resend")
                engine.logger.error("ingest buffer pool too small for its connections: ending one (raise ingest_buffer_mib)")
                end(victim)
                continue
            }
            break
        }
        engine.statistics.waitingConnections.store(waiters.count, ordering: .relaxed)
    }

    func receiveCompleted(_ connection: NetworkConnection, result: Int32, now: Int64) {
        connection.receiving = false
        if connection.failure != nil || connection.ending {
            end(connection)
            return
        }
        guard result > 0 else {
            if result == 0 && connection.insideFrame && !connection.shutDown {
                connection.failure = WireError(.badFrame, "connection closed inside a frame")
            }
            end(connection)
            return
        }
        connection.received += UInt64(result)
        engine.statistics.bytesReceived.add(Int(result), ordering: .relaxed)
        parse(connection, now: now)
        if !connection.ending { startReceive(connection) }
    }

    func dropReference(_ chunk: Int32) {
        chunkReferences[Int(chunk)] -= 1
        precondition(chunkReferences[Int(chunk)] >= 0, "chunk released twice")
        if chunkReferences[Int(chunk)] == 0 { freeChunks.append(chunk) }
    }
}
