-- Room on the page for a batch's settles, so they are HOT.
--
-- A delivery's row is written when it is fanned out and once more when it settles; that update
-- touches no indexed column (0013), so it is HOT if the new version fits on the row's page. The
-- fan-out inserts a batch's deliveries side by side, and one outcome write settles many rows of
-- the same page in one statement, before any of their old versions can be pruned: at fillfactor
-- 80 only about a quarter of a page's rows found room, and a drain to one endpoint (64 in flight)
-- made 45-85% of its settles HOT, each of the others five new index entries. At 50 every row of a
-- page has room for its next version: 99% HOT in the same drains, PostgreSQL's CPU per delivery
-- 5-20% lower. The price is space: new pages of deliveries are half full after their settles
-- (old versions are pruned), against four-fifths.
--
-- Applies to pages written from now on; a storage setting only, so a rolling deploy is fine.

alter table webhooks.deliveries set (fillfactor = 50);
