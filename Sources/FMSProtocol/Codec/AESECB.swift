import COpenSSL

/// AES in ECB mode with PKCS#5/PKCS#7 padding, as the vendor's Java `AES/ECB/PKCS5Padding`.
///
/// A thin wrapper over OpenSSL's EVP interface; the key size picks AES-128/192/256.
public enum AESECB {
    /// Encrypts `plaintext`; the result is padded to a whole number of 16-byte blocks.
    public static func encrypt(_ plaintext: [UInt8], key: SecretKey) throws(CodecError) -> [UInt8] {
        try run(plaintext, key: key, encrypting: true)
    }

    /// Decrypts `ciphertext` and strips its padding.
    ///
    /// Throws `.ciphertextLength` for input that is not whole blocks and `.badPadding`
    /// when the padding is wrong (the usual sign of a wrong key).
    public static func decrypt(_ ciphertext: [UInt8], key: SecretKey) throws(CodecError) -> [UInt8] {
        guard !ciphertext.isEmpty, ciphertext.count % 16 == 0 else { throw CodecError.ciphertextLength(ciphertext.count) }
        return try run(ciphertext, key: key, encrypting: false)
    }

    private static func run(_ input: [UInt8], key: SecretKey, encrypting: Bool) throws(CodecError) -> [UInt8] {
        guard let cipher = fp_aes_ecb_cipher(Int32(key.bytes.count)) else {
            throw CodecError.invalidKeyLength(key.bytes.count)
        }
        guard let context = EVP_CIPHER_CTX_new() else { throw CodecError.cryptoFailure("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(context) }
        let initialized = key.bytes.withUnsafeBufferPointer { keyBytes in
            EVP_CipherInit_ex(context, cipher, nil, keyBytes.baseAddress, nil, encrypting ? 1 : 0)
        }
        guard initialized == 1 else { throw CodecError.cryptoFailure(lastOpenSSLError()) }

        var output = [UInt8](repeating: 0, count: input.count + 16)
        var written: Int32 = 0
        var finalWritten: Int32 = 0
        let updated = output.withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { inBytes in
                EVP_CipherUpdate(context, out.baseAddress, &written, inBytes.baseAddress, Int32(inBytes.count))
            }
        }
        guard updated == 1 else { throw CodecError.cryptoFailure(lastOpenSSLError()) }
        let finished = output.withUnsafeMutableBufferPointer { out in
            EVP_CipherFinal_ex(context, out.baseAddress.map { $0 + Int(written) }, &finalWritten)
        }
        guard finished == 1 else {
            ERR_clear_error()
            if encrypting { throw CodecError.cryptoFailure("EVP_CipherFinal_ex failed") }
            throw CodecError.badPadding
        }
        output.removeLast(output.count - Int(written + finalWritten))
        return output
    }

    private static func lastOpenSSLError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "unknown OpenSSL error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        ERR_clear_error()
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
