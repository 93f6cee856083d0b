package io.coracle.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.List;
import org.junit.jupiter.api.Test;

class ListedMapTest {
    @Test
    void theSameListUntilAPutOrRemove() {
        ListedMap<String> m = new ListedMap<>();
        m.put("a", "A");
        List<String> first = m.list();
        assertSame(first, m.list());
        m.put("b", "B");
        List<String> second = m.list();
        assertNotSame(first, second);
        assertEquals(2, second.size());
        m.remove("a");
        assertEquals(List.of("B"), m.list());
        assertEquals(List.of("A"), first, "a listing taken before stays as it was");
    }
}
