"""Raw files with every kind of line, by S3 key: for the Spark tests and the Spark/DuckDB parity test."""

NASTY_RAW_FILES: dict[str, bytes] = {
    # A BOM, a header and CRLF line ends, as spreadsheet exports write them.
    "raw/ratings.dat": (
        b"\xef\xbb\xbfuserID\tmovieID\trating\ttimestamp\r\n"
        b"75\t3\t1\t1162160236000\r\n"
        b"75\t32\t4.5\t1162160624000\r\n"
        b"75\t3\t1\t1162160236000\r\n"  # exact duplicate
        b"75\t3\t2\t1162160236\r\n"  # same output row, in seconds: a duplicate too
        b"78\t1\t3.5\t1162160236999\r\n"  # milliseconds are floored
        b"78\t2\t0.5\t99999999999\r\n"  # just below 1e11: seconds
        b"78\t3\t5\t100000000000\r\n"  # 1e11: milliseconds
        b"78\t4\t5\t99999999999999\r\n"  # the largest value read as milliseconds
        b"78\t5\t5\t100000000000000\r\n"  # 1e14: microseconds
        b"78\t6\t5\t99999999999999999\r\n"  # the largest accepted value
        b"\r\n"
    ),
    "raw/nasty lines.dat": (
        b"userID\tmovieID\trating\ttimestamp\n"
        b"USERID\tITEMID\tRATING\tTIMESTAMP\n"  # another header
        b"\n"
        b"   \n"
        b"\r\n"
        b"\xef\xbb\xbf80\t5\t4\t1162160236000\n"  # a BOM in the middle of the file
        b"80\t6\t4\t1162160236000 \n"  # trailing space
        b"80\t7\t4\n"
        b"80\t7\t4\t1162160236000\t\n"
        b"\t\t\t\n"
        b"\t7\t4\t1162160236000\n"
        b"80\t\t4\t1162160236000\n"
        b'"80"\t7\t4\t1162160236000\n'
        b"8,0\t7\t4\t1162160236000\n"
        b"80\t7,1\t4\t1162160236000\n"
        b"80 1\t7\t4\t1162160236000\n"
        b"\xff80\t7\t4\t1162160236000\n"  # not UTF-8
        b"\xe9t\xe9\t7\t4\t1162160236000\n"  # Latin-1
        b"\xed\xa0\x80\t7\t4\t1162160236000\n"  # an encoded surrogate
        b"80\t\xed\xbf!\t4\t1162160236000\n"  # two thirds of one
        b"80\t\xe2\x82\t4\t1162160236000\n"  # a truncated sequence
        b"80\t7\t4\t1162160236000\xe2\x82\n"  # ... at the end of a line
        b"\xc0\x80\t\xf4\x90\x80\x80\t4\t1162160236000\xed\xa0\n"  # overlong, beyond U+10FFFF, half a surrogate
        b"80\t7\t\x004\t1162160236000\n"  # NUL
        b"80\t7\tfour\t1162160236000\n"
        b"80\t7\t\t1162160236000\n"
        b"80\t7\tNaN\t1162160236000\n"
        b"80\t7\t1e3\t1162160236000\n"
        b"80\t7\t4.\t1162160236000\n"
        b"80\t7\t 4\t1162160236000\n"
        b"80\t8\t-1\t1162160236000\n"  # odd but numeric: kept (it is below any sensible min_rating)
        b"80\t9\t+4.25\t1162160236000\n"
        b"80\t7\t4\t\n"
        b"80\t7\t4\t-5\n"
        b"80\t7\t4\t0\n"
        b"80\t7\t4\t0000\n"
        b"80\t7\t4\t1.5e12\n"
        b"80\t7\t4\t11621602360\xe2\x80\xa8\n"  # U+2028 (Java's $ matches before it)
        b"80\t7\t4\t100000000000000000\n"  # 1e17
        b"80\t7\t4\t99999999999999999999\n"  # overflows BIGINT
        b"80\t7\t4\t1162\r160236000\n"  # a lone CR inside a line
        b"80\t7\t4\t1162160236000\r\r\n"
        b"user.name@example.com\titem:1/2+3_x-y\t3\t0001162160236\n"  # every allowed id character
        + b"u" * 256
        + b"\t10\t4\t1162160236\n"
        + b"u" * 257
        + b"\t10\t4\t1162160236\n"
        b"81\t10\t4\t1162160236"  # no LF at the end of the file
    ),
    "raw/empty.dat": b"",
    # Ends inside a character.
    "raw/truncated.dat": b"userID\tmovieID\trating\ttimestamp\n83\t1\t4\t1162160236000\n83\t\xe2\x82",
    # Keys that are not plain: a space, +, %, glob characters.
    "raw/sub dir/a+b%20c.dat": (
        b"userID\tmovieID\trating\ttimestamp\n82\t11\t3\t1162160236000\n82\t12\t3\t1162160237000\n"
    ),
    "raw/x[1]{a}*?.dat": b"userID\tmovieID\trating\ttimestamp\n84\t1\t2.5\t1162160236000\n",
}
