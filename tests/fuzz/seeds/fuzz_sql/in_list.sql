SELECT * FROM t WHERE a IN (1, -2.5e3, 'x''y', "z\"") -- c
