package io.coracle.runtime.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.Set;

/**
 * How a remote command ended, read from the error stream the way client-go reads it.
 *
 * <p>v4.channel.k8s.io, v4.base64.channel.k8s.io and v5.channel.k8s.io carry a metav1.Status as JSON:
 * {@code {"status":"Success"}}, or {@code "Failure"} with {@code "reason":"NonZeroExitCode"} and a
 * {@code details.causes[]} entry {@code {"reason":"ExitCode","message":"3"}} (the Go field is
 * StatusCause.Type, JSON name "reason"), or {@code "Failure"} with another reason and a message.
 * Older protocols carry only an error text; no text means success. An empty error stream is success
 * under every protocol (as client-go has it).
 *
 * @param kind what happened
 * @param exitCode the command's exit code for {@link Kind#EXIT_CODE}, 0 for success, -1 otherwise
 * @param message the failure message (client-go's error text), "" on success
 * @param raw everything the error stream carried, as UTF-8
 */
public record ExitStatus(Kind kind, int exitCode, String message, String raw) {
    public enum Kind {
        /** Status Success, or nothing on the error stream. */
        SUCCESS,
        /** Status Failure / NonZeroExitCode with an ExitCode cause. */
        EXIT_CODE,
        /** Any other failure: a Status with another reason, an old protocol's error text, or an unreadable status. */
        FAILURE
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> STATUS_PROTOCOLS =
            Set.of("v4.channel.k8s.io", "v4.base64.channel.k8s.io", "v5.channel.k8s.io");

    public boolean isSuccess() {
        return kind == Kind.SUCCESS;
    }

    /**
     * Whether the error stream carried anything. Under v4 and later the kubelet writes a Status even on
     * success, so false there means the server never reported (client-go still calls that success).
     */
    public boolean reported() {
        return !raw.isEmpty();
    }

    /** Whether the protocol's error stream carries a JSON metav1.Status (v4 and later). */
    public static boolean carriesStatus(String protocol) {
        return STATUS_PROTOCOLS.contains(protocol);
    }

    /** Decodes an error stream's content as client-go does for the protocol. */
    public static ExitStatus decode(String protocol, byte[] errorStream) {
        String raw = new String(errorStream, StandardCharsets.UTF_8);
        if (errorStream.length == 0) {
            return new ExitStatus(Kind.SUCCESS, 0, "", raw);
        }
        if (!carriesStatus(protocol)) {
            return failure("error executing remote command: " + raw, raw);
        }
        JsonNode status;
        try {
            status = JSON.readTree(errorStream);
        } catch (java.io.IOException e) {
            return failure("error stream protocol error: " + e.getMessage() + " in \"" + raw + "\"", raw);
        }
        if (status == null || !status.isObject()) {
            return failure("error stream protocol error: not a JSON object: \"" + raw + "\"", raw);
        }
        switch (status.path("status").asText()) {
            case "Success":
                return new ExitStatus(Kind.SUCCESS, 0, "", raw);
            case "Failure":
                if ("NonZeroExitCode".equals(status.path("reason").asText())) {
                    JsonNode details = status.get("details");
                    if (details == null || details.isNull()) {
                        return failure("error stream protocol error: details must be set", raw);
                    }
                    for (JsonNode cause : details.path("causes")) {
                        if (!"ExitCode".equals(cause.path("reason").asText())) {
                            continue;
                        }
                        String value = cause.path("message").asText();
                        // client-go: strconv.ParseUint(value, 10, 8)
                        int code = value.matches("[0-9]{1,9}") ? Integer.parseInt(value) : -1;
                        if (code < 0 || code > 255) {
                            return failure("error stream protocol error: invalid exit code value \"" + value + "\"", raw);
                        }
                        return new ExitStatus(Kind.EXIT_CODE, code, "command terminated with exit code " + code, raw);
                    }
                    return failure("error stream protocol error: no ExitCode cause given", raw);
                }
                return failure(status.path("message").asText(), raw);
            default:
                return failure("error stream protocol error: unknown error", raw);
        }
    }

    private static ExitStatus failure(String message, String raw) {
        return new ExitStatus(Kind.FAILURE, -1, message, raw);
    }
}
