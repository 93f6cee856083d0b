package io.coracle.runtime.streaming;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How an exec or attach ended, and how that is told on the error stream: from v4 on, a JSON
 * Kubernetes {@code Status} (exit code as a cause of reason NonZeroExitCode); before v4, a bare
 * message, and nothing on success.
 */
record CommandOutcome(int exitCode, String error) {
    private static final ObjectMapper JSON = new ObjectMapper();

    static CommandOutcome exited(int code) {
        return new CommandOutcome(code, null);
    }

    static CommandOutcome failed(String error) {
        return new CommandOutcome(-1, error);
    }

    static CommandOutcome success() {
        return exited(0);
    }

    /** A StatusCause (its Go field Type is JSON "reason"), keys in a fixed order. */
    private static Map<String, String> cause(String reason, String message) {
        Map<String, String> c = new LinkedHashMap<>();
        if (reason != null) {
            c.put("reason", reason);
        }
        c.put("message", message);
        return c;
    }

    /** What the error stream carries; empty for a success before v4. */
    byte[] errorStreamContent(boolean jsonStatus) {
        String message = error != null ? "error executing command in container: " + error
                : exitCode != 0 ? "command terminated with non-zero exit code: exit status " + exitCode : null;
        if (!jsonStatus) {
            return message == null ? new byte[0] : message.getBytes(StandardCharsets.UTF_8);
        }
        Map<String, Object> status = new LinkedHashMap<>();
        status.put("metadata", Map.of());
        if (message == null) {
            status.put("status", "Success");
        } else if (error == null) {
            status.put("status", "Failure");
            status.put("message", message);
            status.put("reason", "NonZeroExitCode");
            status.put("details", Map.of("causes", List.of(cause("ExitCode", Integer.toString(exitCode)))));
        } else {
            status.put("status", "Failure");
            status.put("message", "Internal error occurred: " + message);
            status.put("reason", "InternalError");
            status.put("details", Map.of("causes", List.of(cause(null, message))));
            status.put("code", 500);
        }
        try {
            return JSON.writeValueAsBytes(status);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
