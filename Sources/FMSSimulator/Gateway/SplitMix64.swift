/// A small seeded random generator (SplitMix64), so simulator runs can be repeated.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Starts the sequence at `seed`.
    init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// True with probability `share` (0...1).
    mutating func chance(_ share: Double) -> Bool {
        guard share > 0 else { return false }
        guard share < 1 else { return true }
        return Double(next() >> 11) / Double(1 << 53) < share
    }
}
