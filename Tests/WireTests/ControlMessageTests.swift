import Testing
@testable import Wire

@Suite struct JSONTests {
    @Test func parsesAndWritesCanonically() throws {
        let value = try JSONValue.parse(#" { "b" : [1, -2, 3.5, true, false, null], "a": "x\"\\\/\n\u00e9\ud83d\ude00" } "#)
        #expect(value.serialized == #"{"a":"x\"\\/\né😀","b":[1,-2,3.5,true,false,null]}"#)
        #expect(try JSONValue.parse(value.serialized) == value)
    }

    @Test func keepsSixtyFourBitIntegers() throws {
        #expect(try JSONValue.parse("9223372036854775807") == .int(Int64.max))
        #expect(try JSONValue.parse("-9223372036854775808") == .int(Int64.min))
        #expect(try JSONValue.parse("1e3") == .double(1000))
    }

    @Test(arguments: [
        "", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", "-", "\"abc", "\"\\x\"", "\"\u{01}\"",
        "tru", "nul", "[1 2]", "{\"a\":1}x", "\"\\ud800\"", "{\"a\":1,\"a\":2}", "1e999", String(repeating: "[", count: 40),
    ])
    func refusesMalformed(_ text: String) {
        #expect(throwsCode(.malformedJSON) { try JSONValue.parse(text) }, "\(text.prefix(20))")
    }

    @Test func refusesInvalidUTF8() {
        #expect(throwsCode(.malformedJSON) { try JSONValue.parse([0x22, 0xFF, 0xFE, 0x22]) })
    }
}

@Suite struct ControlMessageTests {
    static let hello = Hello(
        deviceID: "phone-01", token: "t0ken", model: "Pixel 8", software: "agent 1.0",
        clock: ClockDescription(domain: "boottime", resolutionNanos: 1),
        streams: [
            StreamDescriptor(id: 1, kind: .video, codec: "h264", rateHz: 30, nominalBytesPerSecond: 12_500_000),
            StreamDescriptor(id: 3, kind: .gsr, codec: "gsr-16b", rateHz: 128, nominalBytesPerSecond: 2048),
        ])

    static let all: [ControlMessage] = [
        .hello(hello),
        .welcome(Welcome(hubID: "lab", deviceID: "phone-01", dataPort: 8751, syncPort: 8752, syncKey: 0x0123_4567_89AB_CDEF,
                         dataKey: "00112233445566778899aabbccddeeff",
                         heartbeatIntervalMillis: 1000, lostAfterMillis: 5000, frameBytesMax: 8_388_608, hubTimeNanos: 5_000_000_000)),
        .start(Start(sessionID: "20261129T101500Z-pilot", startHubNanos: 6_500_000_000, startDeviceNanos: 6_750_000_123, uncertaintyNanos: 40_000)),
        .started(Started(sessionID: "20261129T101500Z-pilot", startDeviceNanos: 6_750_001_000)),
        .stop(Stop(sessionID: "20261129T101500Z-pilot", stopHubNanos: 66_500_000_000, stopDeviceNanos: 66_750_001_323)),
        .stopped(Stopped(sessionID: "20261129T101500Z-pilot",
                         streams: [StreamTotal(streamID: 1, frameCount: 1800), StreamTotal(streamID: 3, frameCount: 7680)])),
        .status(DeviceStatus(batteryPercent: 81.5, storageFreeBytes: 21_474_836_480, temperatureCelsius: 36.25, recording: true)),
        .status(DeviceStatus(recording: false)),
        .heartbeat(Heartbeat(timeNanos: 7_000_000_000)),
        .marker(Marker(sessionID: "20261129T101500Z-pilot", label: "flash", deviceNanos: 9_250_000_000)),
        .durable(Durable(sessionID: "20261129T101500Z-pilot", streamID: 1, throughSequence: 299)),
        .error(ErrorReport(code: .crcMismatch, message: "frame 17 of stream 1 failed its CRC32C check", fatal: false)),
    ]

    @Test func everyTypeRoundTrips() throws {
        for (index, message) in Self.all.enumerated() {
            let envelope = ControlEnvelope(id: "m\(index)", re: index % 2 == 0 ? nil : "r\(index)", message: message)
            #expect(try ControlEnvelope.decode(envelope.encoded()) == envelope)
        }
    }

    @Test func badInputGetsItsCode() {
        let cases: [(String, ErrorCode)] = [
            ("not json", .malformedJSON),
            ("[1,2]", .invalidMessage),
            (#"{"v":2,"type":"heartbeat","id":"1","time_ns":1}"#, .unsupportedVersion),
            (#"{"type":"heartbeat","id":"1","time_ns":1}"#, .invalidMessage),
            (#"{"v":1,"type":"teleport","id":"1"}"#, .unknownType),
            (#"{"v":1,"type":"heartbeat","id":"1"}"#, .invalidMessage),
            (#"{"v":1,"type":"heartbeat","id":"1","time_ns":"soon"}"#, .invalidMessage),
            (#"{"v":1,"type":"heartbeat","id":"1","time_ns":1.5}"#, .invalidMessage),
            (#"{"v":1,"type":"start","id":"1","session_id":"../x","start_hub_ns":1,"start_device_ns":1,"uncertainty_ns":0}"#, .invalidMessage),
            (#"{"v":1,"type":"durable","id":"1","session_id":"s","stream_id":70000,"through_sequence":1}"#, .invalidMessage),
            (String(repeating: " ", count: ControlLimits.messageBytesMax + 1), .messageTooLarge),
        ]
        for (text, code) in cases {
            #expect(throwsCode(code) { try ControlEnvelope.decode(text) }, "\(text.prefix(60))")
        }
    }

    @Test func helloValidation() {
        func hello(_ edit: (inout [String: JSONValue]) -> Void) -> String {
            guard case .object(var members) = try! JSONValue.parse(ControlEnvelope(id: "1", message: .hello(Self.hello)).encoded()) else {
                fatalError("hello is an object")
            }
            edit(&members)
            return JSONValue.object(members).serialized
        }
        #expect(throwsCode(.invalidDeviceID) { try ControlEnvelope.decode(hello { $0["device_id"] = .string("a/b") }) })
        #expect(throwsCode(.invalidMessage) { try ControlEnvelope.decode(hello { $0["streams"] = .string("x") }) })
        let stream = JSONValue.object(["id": .int(1), "kind": .string("video"), "codec": .string("h264"), "rate_hz": .int(30),
                                       "nominal_bytes_per_s": .int(1)])
        #expect(throwsCode(.invalidMessage) { try ControlEnvelope.decode(hello { $0["streams"] = .array([stream, stream]) }) })
        #expect(throwsCode(.tooManyStreams) {
            try ControlEnvelope.decode(hello { $0["streams"] = .array((0..<17).map { i in
                .object(["id": .int(Int64(i)), "kind": .string("gsr"), "codec": .string("c"), "rate_hz": .int(1), "nominal_bytes_per_s": .int(1)])
            }) })
        })
        let badKind = JSONValue.object(["id": .int(1), "kind": .string("smell"), "codec": .string("c"), "rate_hz": .int(1),
                                        "nominal_bytes_per_s": .int(1)])
        #expect(throwsCode(.invalidMessage) { try ControlEnvelope.decode(hello { $0["streams"] = .array([badKind]) }) })
    }
}
