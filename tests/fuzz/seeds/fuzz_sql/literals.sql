/*!40101 SET NAMES utf8 */; INSERT INTO `d`.`t` VALUES (0x1F, X'ab', b'01', _utf8mb4'\'q') # x
