// The sync service's thread: send due exchanges, collect transmit stamps, receive and match replies.
import Platform
import SystemPackage
import Timing
import Wire

extension SyncService {
    func run() {
        var buffer = [UInt8](repeating: 0, count: 512)
        var nextOffsetRead = HostClock.monotonicNanos()
        while running.load(ordering: .acquiring) {
            loopCount.add(1, ordering: .relaxed)
            if hardwareClock != nil, HostClock.monotonicNanos() >= nextOffsetRead {
                refreshHardwareOffset()
                nextOffsetRead = HostClock.monotonicNanos() + 250_000_000
            }
            let waitMillis = sendDue()
            guard let events = try? Socket.waitEvents(fd, timeoutMillis: waitMillis) else { continue }
            if events.errorQueue { collectTransmitStamps() }
            guard events.readable else { continue }
            let userT4 = HostClock.monotonicNanos()
            guard let (count, peer, kernel) = try? buffer.withUnsafeMutableBytes({ raw in
                try SocketTimestamping.receive(fd, into: raw)
            }) else { continue }
            let t4 = kernel.map(hubStamp) ?? Stamp(nanos: userT4, source: .user)
            collectTransmitStamps()  // t1 of this exchange may still sit on the error queue
            handle(Array(buffer[..<count]), from: peer, t4: t4)
        }
    }

    /// Sends every exchange that is due; returns how long to wait for replies (ms).
    func sendDue() -> Int32 {
        let now = HostClock.monotonicNanos()
        var soonest = now + 100_000_000
        let due: [(UInt64, UInt64, IPv4Endpoint)] = state.withLock { s in
            var out: [(UInt64, UInt64, IPv4Endpoint)] = []
            for (key, peer) in s.peers {
                guard let endpoint = peer.endpoint else { continue }
                if peer.nextSendNanos <= now {
                    let id = s.nextExchangeID
                    s.nextExchangeID += 1
                    out.append((key, id, endpoint))
                    var updated = peer
                    updated.sentCount += 1
                    let interval = updated.sentCount < configuration.burstCount
                        ? configuration.burstIntervalMillis * 1_000_000 : Int64(1e9 / configuration.rateHz)
                    updated.nextSendNanos = now + interval
                    if updated.pending.count > 64 { updated.pending.removeAll() }  // replies lost: bound the tables
                    if updated.awaitingFollowUp.count > 64 { updated.awaitingFollowUp.removeAll() }
                    s.peers[key] = updated
                }
                soonest = min(soonest, s.peers[key]!.nextSendNanos)
            }
            return out
        }
        for (key, id, endpoint) in due {
            let t1 = HostClock.monotonicNanos()
            let packet = SyncPacket(kind: .sync, key: key, exchangeID: id, timestampA: t1, sourceA: .user)
            state.withLock { $0.peers[key]?.pending[id] = Stamp(nanos: t1, source: .user) }
            do {
                try Socket.send(fd, packet.encoded(), to: endpoint)
                if kernelTimestamps {
                    state.withLock { s in
                        s.transmitKeys[s.nextTransmitKey] = (key, id)
                        s.nextTransmitKey &+= 1
                        if s.transmitKeys.count > 1024 { s.transmitKeys.removeAll() }
                    }
                }
            } catch {
                logger.debug("sync send failed", metadata: ["errno": "\(error)"])
            }
        }
        return Int32(max(1, min(100, (soonest - HostClock.monotonicNanos()) / 1_000_000)))
    }

    /// Replaces user-space t1 stamps with the kernel's transmit stamps waiting on the error queue.
    func collectTransmitStamps() {
        guard kernelTimestamps else { return }
        while let (transmitKey, stamp) = try? SocketTimestamping.readTransmitStamp(fd) {
            let kernelT1 = hubStamp(stamp)
            let now = HostClock.monotonicNanos()
            state.withLock { s in
                guard let (key, id) = s.transmitKeys.removeValue(forKey: transmitKey), let userT1 = s.peers[key]?.pending[id] else { return }
                // A stamp that does not lie between the user read before the send and now belongs to another
                // datagram (the key count slipped): keep the user stamp rather than pair it wrongly.
                guard userT1.source == .user, kernelT1.nanos >= userT1.nanos - 1_000_000, kernelT1.nanos <= now else { return }
                s.peers[key]?.pending[id] = kernelT1
            }
        }
    }

    func handle(_ bytes: [UInt8], from endpoint: IPv4Endpoint, t4: Stamp) {
        guard let packet = try? SyncPacket.decode(bytes.span) else {
            state.withLock { $0.ignoredCount += 1 }
            return
        }
        let result: (String, SyncSample, ClockMapping, String, Bool)? = state.withLock { s in
            guard var peer = s.peers[packet.key] else {
                s.ignoredCount += 1
                return nil
            }
            defer { s.peers[packet.key] = peer }
            switch packet.kind {
            case .register:
                if peer.endpoint != endpoint { peer.endpoint = endpoint; peer.sentCount = 0; peer.nextSendNanos = 0 }
                return nil
            case .response:
                guard var t1 = peer.pending.removeValue(forKey: packet.exchangeID) else { return nil }
                // No send stamp from the socket: the capture's, when it saw the packet go out.
                if t1.source == .user, let captured = crossCheck?.captureSend(key: packet.key, exchangeID: packet.exchangeID) {
                    t1 = Stamp(nanos: captured, source: .pcap)
                }
                let t2 = Stamp(nanos: packet.timestampA, source: packet.sourceA)
                let t3 = Stamp(nanos: packet.timestampB, source: packet.sourceB)
                if packet.flags & SyncPacket.followUpPendingFlag != 0 {
                    peer.awaitingFollowUp[packet.exchangeID] = (t1, t2, t3, t4)
                    return nil
                }
                crossCheck?.recordHub(key: packet.key, exchangeID: packet.exchangeID, t1: t1, t4: t4)
                return SyncService.complete(&peer, t1: t1, t2: t2, t3: t3, t4: t4)
            case .followUp:
                guard let partial = peer.awaitingFollowUp.removeValue(forKey: packet.exchangeID) else { return nil }
                let t3 = Stamp(nanos: packet.timestampA, source: packet.sourceA)
                crossCheck?.recordHub(key: packet.key, exchangeID: packet.exchangeID, t1: partial.t1, t4: partial.t4)
                return SyncService.complete(&peer, t1: partial.t1, t2: partial.t2, t3: t3, t4: partial.t4)
            case .sync:
                s.ignoredCount += 1
                return nil
            }
        }
        if let (deviceID, sample, mapping, source, accepted) = result { onSample(deviceID, sample, mapping, source, accepted) }
    }

    /// Adds a finished exchange to the peer's estimator; returns what to report (every exchange, accepted
    /// or held back, so the stored samples are complete).
    static func complete(
        _ peer: inout Peer, t1: Stamp, t2: Stamp, t3: Stamp, t4: Stamp
    ) -> (String, SyncSample, ClockMapping, String, Bool)? {
        let sample = SyncSample(
            t1: HubInstant(nanos: t1.nanos), t2: DeviceInstant(nanos: t2.nanos), t3: DeviceInstant(nanos: t3.nanos),
            t4: HubInstant(nanos: t4.nanos))
        let accepted = peer.estimator.add(sample)
        let sources = Set([t1.source, t2.source, t3.source, t4.source])
        let label = sources.count == 1 ? sources.first!.name : "mixed"
        if accepted {
            peer.delayNanosMin = min(peer.delayNanosMin ?? .max, sample.delay.value)
            peer.lastSample = sample
            peer.lastSource = label
        }
        return (peer.deviceID, sample, peer.estimator.mapping, label, accepted)
    }
}

extension SyncService {
    /// The capture thread: every sync packet the capture sees, matched to its exchange.
    func runCapture() {
        guard let capture, let crossCheck else { return }
        let port = boundEndpoint.port
        while running.load(ordering: .acquiring) {
            let frame: (realtimeNanos: Int64, bytes: [UInt8])?
            do { frame = try capture.next() } catch {
                if running.load(ordering: .acquiring) { logger.warning("pcap cross-check stopped: \(error)") }
                return
            }
            guard let frame, let datagram = CapturedDatagram.udp(frame.bytes, linkType: capture.linkType),
                let packet = try? SyncPacket.decode(Array(datagram.payload).span)
            else { continue }
            let monotonic = frame.realtimeNanos - HostClock.realtimeMinusMonotonicNanos()
            if packet.kind == .sync && datagram.sourcePort == port {
                crossCheck.recordCapture(key: packet.key, exchangeID: packet.exchangeID, outgoing: true, monotonicNanos: monotonic)
            } else if packet.kind == .response && datagram.destinationPort == port {
                crossCheck.recordCapture(key: packet.key, exchangeID: packet.exchangeID, outgoing: false, monotonicNanos: monotonic)
            }
        }
    }

    /// The cross-check's figures for status and benchmarks, or why it is not running (nil: not asked for).
    public var pcapCrossCheckJSON: JSONValue? {
        if let reason = pcapFallbackReason { return .object(["unavailable": .string(reason)]) }
        guard let crossCheck else { return nil }
        let summary = crossCheck.summary
        func stats(_ values: [Int64]) -> JSONValue {
            guard !values.isEmpty else { return .null }
            let sorted = values.sorted()
            let magnitudes = values.map { abs($0) }.sorted()
            return .object([
                "median_ns": .int(sorted[sorted.count / 2]), "p99_abs_ns": .int(magnitudes[min(magnitudes.count - 1, magnitudes.count * 99 / 100)]),
                "max_abs_ns": .int(magnitudes.last!), "count": .int(Int64(values.count)),
            ])
        }
        return .object([
            "interface": .string(crossCheck.interface), "capture_timestamps": .string(crossCheck.timestampType),
            "packets_captured": .int(Int64(summary.captured)), "exchanges_matched": .int(Int64(summary.matched)),
            "send_minus_capture": stats(summary.send), "receive_minus_capture": stats(summary.receive),
        ])
    }
}
