-- Placement sends its COMMIT together with its last statement (docs/adr/0024), so the statement itself
-- must fail when a line could not be reserved: an error aborts the transaction and the COMMIT behind it
-- becomes a rollback. Called with the count of lines and of reserved lines; returns the count.
CREATE FUNCTION placement_reserved(lines integer, reserved bigint) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF reserved <> lines THEN
        RAISE EXCEPTION 'only % of % lines could be reserved', reserved, lines
              USING ERRCODE = 'OR409';
    END IF;
    RETURN reserved;
END
$$;
