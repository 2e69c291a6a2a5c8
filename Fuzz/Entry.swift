// libFuzzer entry point for one decoder, picked at compile time (-D FUZZ_FRAME, FUZZ_CONTROL, FUZZ_SYNC,
// FUZZ_HANDSHAKE). Built by scripts/fuzz.sh with `swiftc -sanitize=fuzzer,address` together with
// Sources/Wire and Sources/WireFuzzChecks as one module.
@_cdecl("LLVMFuzzerTestOneInput")
public func lockstepFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    #if FUZZ_FRAME
    FuzzChecks.frame(bytes)
    #elseif FUZZ_CONTROL
    FuzzChecks.control(bytes)
    #elseif FUZZ_SYNC
    FuzzChecks.sync(bytes)
    #elseif FUZZ_HANDSHAKE
    FuzzChecks.handshake(bytes)
    #endif
    return 0
}
