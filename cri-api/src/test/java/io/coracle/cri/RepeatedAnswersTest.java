package io.coracle.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class RepeatedAnswersTest {
    private final AtomicInteger builds = new AtomicInteger();
    private final RepeatedAnswers<String, Object, List<Object>> answers = new RepeatedAnswers<>(parts -> {
        builds.incrementAndGet();
        return new ArrayList<>(parts);
    });

    @Test
    void theSamePartsGiveTheSameAnswerAndAnyChangedPartANewOne() {
        Object a = new Object();
        Object b = new Object();
        List<Object> first = answers.answer("all", List.of(a, b));
        assertSame(first, answers.answer("all", List.of(a, b)));
        assertEquals(1, builds.get());
        // An equal but different part (a rebuilt entry), one part fewer, another order: built again.
        assertNotSame(first, answers.answer("all", List.of(a, new String("x"))));
        assertEquals(List.of(a), answers.answer("all", List.of(a)));
        assertEquals(List.of(b, a), answers.answer("all", List.of(b, a)));
        assertEquals(4, builds.get());
    }

    @Test
    void eachKeyKeepsItsOwnAnswerUpToTheBound() {
        Object a = new Object();
        List<Object> running = answers.answer("running", List.of(a));
        List<Object> all = answers.answer("all", List.of());
        assertSame(running, answers.answer("running", List.of(a)));
        assertSame(all, answers.answer("all", List.of()));
        for (int i = 0; i < 40; i++) { // many filters: the memo empties, answers stay right
            assertEquals(List.of(a), answers.answer("k" + i, List.of(a)));
        }
        assertEquals(List.of(a), answers.answer("running", List.of(a)));
    }
}
